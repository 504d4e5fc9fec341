"""The operator's start handler resolves spec.warmStart's sweep names on a real control plane: a name
with no sweep behind it, or a sweep that failed, fails the sweep before any RayJob, naming the field
and the fix (no Ray cluster starts here: every sweep of this test is refused before one)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.operator.cluster import Cluster, condition
from tests.operator.conftest import StartOperator
from tests.operator.sweeps import sweep_manifest
from tests.operator.test_sweep_lifecycle import apply

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def test_a_missing_or_failed_named_sweep_refuses_the_warm_start(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    start_operator()
    evidence = f"file://{tmp_path}/evidence"
    tpe = {"name": "tpe", "seed": 0}
    apply(
        kubectl,
        namespace,
        sweep_manifest("earlier", evidence, algorithm=tpe, warmStart=[{"sweep": "gone"}]),
        tmp_path,
    )
    failed = condition(cluster.wait_for_phase("earlier", "Failed", timeout=60), "Failed")
    assert failed["reason"] == "WarmStartUnresolved", failed
    assert failed["message"].startswith(
        f"spec.warmStart[0].sweep gone: no TuningSweep gone in namespace {namespace}; name a sweep of this "
        "namespace, or give its evidence folder as spec.warmStart[0].evidenceURI"
    ), failed

    apply(
        kubectl,
        namespace,
        sweep_manifest("warm", evidence, algorithm=tpe, warmStart=[{"sweep": "earlier"}]),
        tmp_path,
    )
    failed = condition(cluster.wait_for_phase("warm", "Failed", timeout=60), "Failed")
    assert failed["reason"] == "WarmStartUnresolved", failed
    assert "spec.warmStart[0].sweep earlier: TuningSweep earlier ended Failed" in failed["message"], failed
    assert cluster.rayjobs() == []
