"""A sweep preempted by Kueue mid-run and admitted again, through the real cluster path.

Kueue itself does not run here. The test plays its part on the RayJob as Kueue's RayJob integration
does: a sweep with `resources.queueName` makes its RayJob suspended with Kueue's queue label, Kueue
admits it by setting `spec.suspend: false`, preempts it by setting `spec.suspend: true`, and admits it
again with `false`. KubeRay (v1.5, real) does the rest: on suspend it deletes the Ray cluster and the
submitter Job, without stopping the Ray job first, and on admission it makes a new Ray cluster and
submits the driver again, which restores the experiment from the evidence bucket."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.operator.cluster import Cluster, condition, wait_until
from tests.operator.conftest import StartOperator
from tests.operator.ray_cluster import ray_pods
from tests.operator.resumed_trials import assert_resumed, flax_trainer, wait_for_a_trial_mid_run
from tests.operator.sweeps import sweep_manifest
from tests.operator.test_sweep_lifecycle import apply
from tests.support.kubelet import KubeletStandIn

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def kueue_sets_suspend(cluster: Cluster, rayjob: str, suspend: bool) -> None:
    """What Kueue writes on a RayJob it preempts (true) or admits (false)."""
    cluster.custom.patch_namespaced_custom_object(
        "ray.io", "v1", cluster.namespace, "rayjobs", rayjob, {"spec": {"suspend": suspend}}
    )


def wait_queued(cluster: Cluster, name: str) -> dict[str, Any]:
    """Until the sweep says its RayJob waits for admission; that status."""
    return wait_until(
        lambda: (
            (s := cluster.sweep_status(name))
            and s.get("phase") == "Provisioning"
            and condition(s, "Ready")["reason"] == "Queued"
            and s.get("rayJob", {}).get("jobDeploymentStatus") == "Suspended"
            and s
        ),
        120,
        lambda: f"sweep {name} Queued; status now {json.dumps(cluster.sweep_status(name), indent=1)}",
    )


def wait_running_on_a_new_cluster(cluster: Cluster, name: str, before: str | None) -> str:
    """Until the sweep runs again on a Ray cluster other than `before`; that cluster's name."""
    return wait_until(
        lambda: (
            (s := cluster.sweep_status(name))
            and s.get("phase") == "Running"
            and s.get("rayJob", {}).get("rayCluster", "") not in ("", before)
            and s["rayJob"]["rayCluster"]
        ),
        300,
        lambda: f"sweep {name} Running again; status now {json.dumps(cluster.sweep_status(name), indent=1)}",
    )


def test_a_kueue_preemption_mid_sweep_resumes_the_running_trial_from_its_checkpoint(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    start_operator()  # Ray's token auth on, as in production
    resources = {"perTrial": {"cpu": "1", "memory": "1Gi"}, "workers": {"replicas": 1}, "queueName": "team-a"}
    trials = {"count": 2, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 300}
    # KubeRay deletes the Pods with their grace period (the kubelet stand-in caps it at 10 s), and the
    # trial trains on meanwhile: 1000 steps (~25 s) keep it running well past that.
    trainer = flax_trainer(1000)
    sweep = sweep_manifest(
        "preempted", f"file://{tmp_path}/evidence", trainer=trainer, trials=trials, resources=resources
    )
    apply(kubectl, namespace, sweep, tmp_path)

    # made suspended: queued until Kueue admits it
    rayjob = wait_queued(cluster, "preempted")["rayJob"]["name"]
    assert cluster.rayclusters() == []
    kueue_sets_suspend(cluster, rayjob, False)
    first_cluster = wait_running_on_a_new_cluster(cluster, "preempted", None)
    root = cluster.sweep_status("preempted")["evidenceURI"]
    caught = wait_for_a_trial_mid_run(root)

    # preempted: KubeRay deletes the Ray cluster and the submitter Job (Suspended once both are gone),
    # and the sweep is queued again
    kueue_sets_suspend(cluster, rayjob, True)
    queued = wait_queued(cluster, "preempted")
    assert queued["rayJob"].get("rayCluster", "") == "", queued["rayJob"]
    assert cluster.rayclusters() == []
    assert client.BatchV1Api(cluster.core.api_client).list_namespaced_job(namespace).items == []

    # Kueue counts a Suspended RayJob inactive (its quota free) and may admit it again at once, while
    # the old Pods still have their grace period
    kueue_sets_suspend(cluster, rayjob, False)
    second_cluster = wait_running_on_a_new_cluster(cluster, "preempted", first_cluster)
    second_workers = wait_until(
        lambda: ray_pods(cluster.core, namespace, second_cluster).worker_names,
        120,
        f"the worker Pods of Ray cluster {second_cluster}",
    )
    status = cluster.wait_for_phase("preempted", ("Succeeded", "Failed"), timeout=600)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert status["trials"]["succeeded"] == 2 and status["trials"]["failed"] == 0, status["trials"]
    manifest = assert_resumed(root, caught)
    assert manifest.attempts[-1].host in second_workers, (manifest.attempts, second_workers)
