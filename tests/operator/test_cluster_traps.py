"""What a first install gets wrong, on a real control plane: each becomes a condition on the sweep and an
Event, with the fix in its message, and no RayJob is made. KubeRay missing has a control plane of its own
(the shared one has KubeRay's CRDs), and heals once they are installed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tunesweep_evidence import bucket
from tunesweep_operator.kube import KUBERAY_VERSION
from tunesweep_operator.settings import NODE_LOCAL_ENV

from tests.operator.cluster import Cluster, OperatorProcess, bind_operator_rules, condition, wait_until
from tests.operator.conftest import StartOperator
from tests.operator.sweeps import MOCK_BASE_CONFIG, sweep_manifest
from tests.operator.test_sweep_lifecycle import apply
from tests.support.controlplane import ControlPlane
from tests.support.k8s_fixtures import TUNESWEEP_CRD

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
INSTALL_KUBERAY = f"helm install kuberay-operator kuberay/kuberay-operator --version {KUBERAY_VERSION}"


def test_file_evidence_without_a_shared_volume_and_a_missing_image_are_refused(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    # as installed by the chart without evidence.fileVolume, and without a cpu trainer image
    start_operator(**{NODE_LOCAL_ENV: "", "TUNESWEEP_TRAINER_IMAGE_CPU": ""})
    evidence = f"file://{tmp_path}/evidence"
    trainer = {"backend": "mock", "baseConfig": MOCK_BASE_CONFIG, "image": "tunesweep-trainer:cpu-test"}
    apply(kubectl, namespace, sweep_manifest("local", evidence, trainer=trainer), tmp_path)
    apply(kubectl, namespace, sweep_manifest("imageless", "s3://evidence-bucket/runs"), tmp_path)

    status = cluster.wait_for_phase("local", "Failed", timeout=60)
    reachable = condition(status, "EvidenceReachable")
    assert (reachable["status"], reachable["reason"]) == ("False", "FileEvidenceNotShared"), reachable
    assert reachable["observedGeneration"] == 1
    assert "evidence.fileVolume" in reachable["message"] and "s3:// or gs://" in reachable["message"]
    assert condition(status, "Failed")["reason"] == "FileEvidenceNotShared"
    cluster.wait_for_events(
        "local",
        lambda found: [e[:2] for e in found] == [("Warning", "FileEvidenceNotShared")],
        "one FileEvidenceNotShared Warning",
    )
    assert not bucket.exists(evidence)  # no plan.json on the operator's own disk

    status = cluster.wait_for_phase("imageless", "Failed", timeout=60)
    failed = condition(status, "Failed")
    assert failed["reason"] == "InvalidSpec", failed
    assert "no default cpu trainer image" in failed["message"], failed
    assert "TUNESWEEP_TRAINER_IMAGE_CPU (Helm: trainer.images.cpu)" in failed["message"], failed
    cluster.wait_for_events(
        "imageless",
        lambda found: ("Warning", "InvalidSpec") in [e[:2] for e in found],
        "an InvalidSpec Warning",
    )
    assert cluster.rayjobs() == []


@pytest.fixture
def without_kuberay(tmp_path: Path) -> Iterator[ControlPlane]:
    """A control plane of its own, with tunesweep's CRD and not KubeRay's."""
    with ControlPlane(workdir=tmp_path / "cp", controller_manager=False) as cp:
        cp.install_crds([TUNESWEEP_CRD])
        yield cp


def test_without_kuberay_a_sweep_waits_and_starts_once_it_is_installed(
    without_kuberay: ControlPlane, tmp_path: Path
) -> None:
    cp, namespace = without_kuberay, "team-a"
    cp.kubectl("create", "namespace", namespace)
    operator = OperatorProcess(namespace, bind_operator_rules(cp, namespace), tmp_path / "operator.log", {})
    try:
        operator.wait_ready()
        _, said = wait_until(
            lambda: (r := operator.readiness())[0] == 503 and r, 60, "the operator not ready (503)"
        )
        assert INSTALL_KUBERAY in said, said
        cluster = Cluster(cp, namespace)
        apply(cp.kubectl, namespace, sweep_manifest("waits", f"file://{tmp_path}/evidence"), tmp_path)

        def missing() -> dict[str, object] | None:
            status = cluster.sweep_status("waits")
            found = [c for c in status.get("conditions", []) if c["type"] == "KubeRayReady"]
            return status if found and found[0]["status"] == "False" else None

        status = wait_until(
            missing, 60, lambda: f"KubeRayReady=False; status {cluster.sweep_status('waits')}"
        )
        kuberay = condition(status, "KubeRayReady")
        assert kuberay["reason"] == "KubeRayMissing" and INSTALL_KUBERAY in kuberay["message"], kuberay
        assert status["phase"] == "Pending" and condition(status, "Ready")["reason"] == "KubeRayMissing"
        cluster.wait_for_events(
            "waits",
            lambda found: ("Warning", "KubeRayMissing") in [e[:2] for e in found],
            "a KubeRayMissing Warning",
        )
        assert not any("404" in message for message in operator.log_messages()), operator.tail()

        cp.install_crds(cp.kuberay_crds())
        status = cluster.wait_for_phase("waits", "Provisioning", timeout=120)
        assert condition(status, "KubeRayReady")["status"] == "True", json.dumps(status, indent=1)
        assert [job["metadata"]["name"] for job in cluster.rayjobs()] == [status["rayJob"]["name"]]
        events = cluster.wait_for_events(
            "waits",
            lambda found: ("Normal", "KubeRayFound") in [e[:2] for e in found],
            "a KubeRayFound Event",
        )
        assert [e[1] for e in events].count("KubeRayMissing") == 1, events  # a transition, not every retry
        assert wait_until(lambda: operator.readiness()[0] == 200, 60, "the operator ready (200)")
    finally:
        operator.stop()
