"""Faults on the cluster path, injected where they happen in production: a worker Pod's node is lost, the
head's node is lost, a Pod never becomes Ready. KubeRay's own controller and Ray react as they do on a
real cluster; the tests assert what the sweep makes of it: a trial whose node was lost resumes from its
last checkpoint and counts as a restart, not a failure."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from kubernetes import client

from tests.operator.cluster import KUBERAY_SEES_THE_END, Cluster, condition, wait_until
from tests.operator.conftest import StartOperator
from tests.operator.ray_cluster import ray_pods
from tests.operator.resumed_trials import (
    assert_resumed,
    caught_mid_run,
    finished_trials,
    flax_trainer,
    run_manifest,
    summary,
    wait_for_a_trial_mid_run,
)
from tests.operator.sweeps import sweep_manifest
from tests.operator.test_sweep_lifecycle import apply
from tests.support.kubelet import KubeletStandIn

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def ray_cluster_of(cluster: Cluster) -> str:
    def name() -> str | None:
        jobs = cluster.rayjobs()
        return (jobs[0].get("status") or {}).get("rayClusterName") if jobs else None

    return wait_until(name, 120, "the RayJob's Ray cluster")


def run_flax_sweep(
    cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path, name: str, **trials: int
) -> tuple[str, str]:
    """Apply a flax-lm sweep of trials long enough to be caught mid-run, one at a time; once it runs:
    its evidence root and Ray cluster."""
    trials = {"parallel": 1, "timeoutSeconds": 300, **trials}
    # a SIGKILL stops a trial at once: 400 steps (~10 s) leave seconds after its first checkpoint
    trainer = flax_trainer(400)
    manifest = sweep_manifest(name, f"file://{tmp_path}/evidence", trainer=trainer, trials=trials)
    apply(kubectl, namespace, manifest, tmp_path)
    root = cluster.wait_for_phase(name, "Running", timeout=300)["evidenceURI"]
    return root, ray_cluster_of(cluster)


def test_a_lost_worker_node_restarts_its_trial_from_its_checkpoint(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    start_operator(TUNESWEEP_RAYJOB_BACKOFF_LIMIT="0", **KUBERAY_SEES_THE_END)
    root, ray_cluster = run_flax_sweep(cluster, kubectl, namespace, tmp_path, "lossy", count=2, maxFailed=0)
    caught = wait_for_a_trial_mid_run(root)
    (worker,) = ray_pods(cluster.core, namespace, ray_cluster).workers
    assert kuberay.kill_pod(namespace, worker.metadata.name) > 0

    status = cluster.wait_for_phase("lossy", ("Succeeded", "Failed"), timeout=600)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert status["trials"]["failed"] == 0 and status["trials"]["succeeded"] == 2, status["trials"]
    manifest = assert_resumed(root, caught)
    # The Ray Pods restart in place (restartPolicy Always, as KubeRay renders them): the kubelet restarted
    # the worker's container, a new Ray node joined from it, and Ray Tune started the trial again there.
    (after,) = ray_pods(cluster.core, namespace, ray_cluster).workers
    assert after.metadata.uid == worker.metadata.uid
    assert after.status.container_statuses[0].restart_count >= 1
    assert {attempt.host for attempt in manifest.attempts} == {worker.metadata.name}


def test_a_lost_head_node_resubmits_the_driver_and_the_running_trial_resumes(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    start_operator(TUNESWEEP_RAYJOB_BACKOFF_LIMIT="1", **KUBERAY_SEES_THE_END)
    root, first_cluster = run_flax_sweep(
        cluster, kubectl, namespace, tmp_path, "headless", count=2, maxFailed=0
    )
    # the second trial mid-run, the first one finished
    caught = wait_until(
        lambda: caught_mid_run(root) if finished_trials(root) else None,
        300,
        lambda: f"a finished trial and a running one with a checkpoint in {summary(root)}",
    )
    done = finished_trials(root)
    head = ray_pods(cluster.core, namespace, first_cluster).head_name
    assert kuberay.kill_pod(namespace, head) > 0

    status = cluster.wait_for_phase("headless", ("Succeeded", "Failed"), timeout=900)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    # The head's container restarted in place with a fresh Ray (its GCS state gone with it); KubeRay's
    # submitter Job, whose Pod lost the job it followed, ran again and submitted the driver anew, on
    # the same Ray cluster: no RayJob retry was needed.
    (head_after,) = ray_pods(cluster.core, namespace, first_cluster).head
    assert head_after.status.container_statuses[0].restart_count >= 1
    (rayjob,) = cluster.rayjobs()
    assert rayjob["status"]["rayClusterName"] == first_cluster
    (submitter,) = client.BatchV1Api(cluster.core.api_client).list_namespaced_job(namespace).items
    assert (submitter.status.failed or 0) >= 1, submitter.status
    final = summary(root)
    assert final is not None and {t.status for t in final.trials} == {"succeeded"}
    assert status["trials"]["succeeded"] == 2 and status["trials"]["failed"] == 0, status["trials"]
    # The new driver restored the experiment from the evidence: what had finished was not run again,
    # and the trial that was running went on from its checkpoint.
    assert all(len(run_manifest(root, trial).attempts) == 1 for trial in done), done
    assert_resumed(root, caught)


def test_a_pod_that_never_becomes_ready_ends_at_the_deadline(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    kuberay.hold_unready(lambda ns, name: ns == namespace and "-worker-" in name)
    start_operator(TUNESWEEP_DEADLINE_SLACK_SECONDS="30", **KUBERAY_SEES_THE_END)
    manifest = sweep_manifest(
        "stuck", f"file://{tmp_path}/evidence", trials={"count": 1, "parallel": 1, "timeoutSeconds": 30}
    )
    apply(kubectl, namespace, manifest, tmp_path)
    status = cluster.wait_for_phase("stuck", ("Succeeded", "Failed"), timeout=300)
    assert status["phase"] == "Failed", json.dumps(status, indent=1)
    assert condition(status, "Failed")["reason"] == "DeadlineExceeded", json.dumps(status, indent=1)
    # the Ray cluster never became ready, so KubeRay never submitted the driver
    batch_jobs = kubectl("get", "jobs", "-o", "name", namespace=namespace).stdout.split()
    assert batch_jobs == []
    assert summary(status["evidenceURI"]) is None
