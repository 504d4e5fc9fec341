"""The README's command that frees a sweep whose operator is gone, run as written against a real API
server: the sweep still carries the operator's finalizer, so its deletion waits until the command runs,
and then the sweep and what it owns are gone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tunesweep_evidence import spec
from tunesweep_operator.kopf_settings import FINALIZER
from tunesweep_operator.ownership import owner_reference

from tests.operator.cluster import ASYNC_TIMEOUT, Cluster, wait_until
from tests.operator.sweeps import sweep_manifest, sweep_model
from tests.ship.readme import readme_command, run_as_written
from tests.support.controlplane import ControlPlane


def test_the_readme_command_frees_a_sweep_whose_operator_is_gone(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    cluster = Cluster(control_plane, namespace)
    sweep = sweep_manifest("orphaned", "file:///tmp/evidence")
    sweep["metadata"]["finalizers"] = [FINALIZER]  # as the operator left it
    where = (spec.GROUP, spec.VERSION, namespace, spec.PLURAL)
    made = cluster.custom.create_namespaced_custom_object(*where, sweep)
    owner = owner_reference(sweep_model(sweep, namespace, made["metadata"]["uid"]))  # as the operator owns
    owned = {"metadata": {"name": "orphaned-promoted", "ownerReferences": [owner]}}
    cluster.core.create_namespaced_config_map(namespace, owned)

    cluster.custom.delete_namespaced_custom_object(*where, "orphaned")

    def terminating() -> dict[str, Any] | None:
        found = cluster.sweep("orphaned")
        return found if found and found["metadata"].get("deletionTimestamp") else None

    held = wait_until(terminating, ASYNC_TIMEOUT, "the sweep Terminating")
    assert held["metadata"]["finalizers"] == [FINALIZER]  # as no operator removes it

    command = readme_command("kubectl patch tuningsweep")
    assert re.fullmatch(r'kubectl patch tuningsweep "\$SWEEP" -n "\$NAMESPACE" .*', command), command
    run_as_written(command, control_plane, tmp_path, SWEEP="orphaned", NAMESPACE=namespace)
    wait_until(lambda: cluster.sweep("orphaned") is None, ASYNC_TIMEOUT, "the sweep deleted by the command")
    wait_until(
        lambda: cluster.config_map("orphaned-promoted") is None,
        ASYNC_TIMEOUT,
        "the ConfigMap it owns garbage-collected",
    )
