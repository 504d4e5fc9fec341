"""How sweeps fail, on a real control plane: a failing Ray job, no scored trial, a ConfigMap that
belongs to someone else, an evidence bucket that is down and comes back."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client
from tunesweep_evidence import bucket, layout

from tests.operator.cluster import KUBERAY_SEES_THE_END, Cluster, condition, wait_until
from tests.operator.conftest import StartOperator
from tests.operator.sweeps import sweep_manifest
from tests.operator.test_sweep_lifecycle import apply
from tests.support.kubelet import KubeletStandIn
from tests.support.moto_server import S3Server
from tests.sweep.sweeps import UNLOADABLE_MODEL

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def unreachable(status: dict[str, Any]) -> dict[str, Any] | None:
    found = [c for c in status.get("conditions", []) if c["type"] == "EvidenceReachable"]
    return status if found and found[0]["status"] == "False" else None


def test_failing_ray_job_fails_the_sweep_after_kuberays_retries(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    # The Ray job fails for a reason outside the sweep's own verdicts: its plan is gone from the bucket
    # before the driver can read it (removed while KubeRay has made no submitter Job yet). KubeRay runs
    # the job again once (backoffLimit 1), on a new Ray cluster, and it fails the same way.
    start_operator(TUNESWEEP_RAYJOB_BACKOFF_LIMIT="1", **KUBERAY_SEES_THE_END)
    apply(kubectl, namespace, sweep_manifest("failing", f"file://{tmp_path}/evidence"), tmp_path)

    def rayjob_made() -> str | None:
        root = cluster.sweep_status("failing").get("evidenceURI")
        return root if root and cluster.rayjobs() else None

    plan = Path(str(bucket.local_path(f"{wait_until(rayjob_made, 120, 'the RayJob')}/{layout.PLAN}")))
    assert client.BatchV1Api(cluster.core.api_client).list_namespaced_job(namespace).items == []
    plan.unlink()
    status = cluster.wait_for_phase("failing", "Failed", timeout=600)
    failed = condition(status, "Failed")
    assert failed["status"] == "True", json.dumps(status, indent=1)
    assert failed["reason"] == "AppFailed", failed
    assert condition(status, "Ready")["status"] == "False"
    assert status["rayJob"]["jobDeploymentStatus"] == "Failed" and status["completionTime"]
    (rayjob,) = cluster.rayjobs()
    name = rayjob["metadata"]["name"]
    cluster.wait_for_rayjob(
        name, lambda job: (job.get("status") or {}).get("failed") == 2, "status.failed == 2"
    )
    # nothing is promoted
    assert not bucket.exists(f"{status['evidenceURI']}/{layout.BEST_PARAMS}")
    assert cluster.config_map("failing-best") is None
    assert "promoted" not in status
    events = cluster.wait_for_events(
        "failing",
        lambda found: [e[:2] for e in found[-1:]] == [("Warning", failed["reason"])],
        f"the {failed['reason']} Warning as the last one",
    )
    assert ("Normal", "Retrying", "KubeRay retries the Ray job after 1 failure(s)") in events


def test_a_verdict_fails_the_sweep_at_once_without_kuberay_retries(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    # KubeRay may retry twice (the default backoffLimit): a driver that reached a verdict exits 0, so
    # no second Ray cluster is made only to reach the same verdict.
    start_operator(**KUBERAY_SEES_THE_END)
    manifest = sweep_manifest(
        "unscorable",
        f"file://{tmp_path}/evidence",
        # valid on its own, so the spec is accepted, but a real Gemma needs a checkpoint: every trial
        # refuses its config and fails
        searchSpace={"model.name": {"choice": [UNLOADABLE_MODEL]}},
        trials={"count": 2, "parallel": 2, "maxFailed": 2, "timeoutSeconds": 120},
    )
    apply(kubectl, namespace, manifest, tmp_path)
    status = cluster.wait_for_phase("unscorable", ("Succeeded", "Failed"), timeout=400)
    failed = condition(status, "Failed")
    assert (status["phase"], failed["reason"]) == ("Failed", "NoScoredTrial"), json.dumps(status, indent=1)
    assert "none of 2 trials has a primary score" in failed["message"]
    assert "production mode needs one" in failed["message"]
    assert status["trials"]["failed"] == 2 and "bestTrial" not in status
    assert cluster.config_map("unscorable-best") is None
    assert not bucket.exists(f"{status['evidenceURI']}/{layout.BEST_PARAMS}")
    assert not bucket.exists(f"{status['evidenceURI']}/promoted")  # the driver never promotes on a cluster
    (rayjob,) = cluster.rayjobs()
    rayjob = cluster.wait_for_rayjob(
        rayjob["metadata"]["name"],
        lambda job: (job.get("status") or {}).get("jobDeploymentStatus") == "Complete",
        "KubeRay's jobDeploymentStatus Complete",
    )
    assert rayjob["status"]["jobStatus"] == "SUCCEEDED" and not rayjob["status"].get("failed"), rayjob[
        "status"
    ]
    events = cluster.wait_for_events(
        "unscorable", lambda found: ("Warning", "NoScoredTrial") in [e[:2] for e in found], "the verdict"
    )
    assert "Retrying" not in [reason for _, reason, _ in events], events


def test_config_map_of_someone_else_is_never_overwritten(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    start_operator(**KUBERAY_SEES_THE_END)
    evidence = f"file://{tmp_path}/evidence"
    kubectl("create", "configmap", "taken-best", "--from-literal=owner=someone-else", namespace=namespace)
    # taken before the sweep starts: it fails at once, before any Ray cluster is asked for
    apply(kubectl, namespace, sweep_manifest("taken", evidence), tmp_path)
    status = cluster.wait_for_phase("taken", "Failed", timeout=60)
    assert condition(status, "Failed")["reason"] == "ConfigMapConflict"
    assert cluster.rayjobs() == []

    # taken while the sweep runs: the sweep's trials finish, its promotion refuses
    apply(kubectl, namespace, sweep_manifest("late", evidence), tmp_path)
    cluster.wait_for_phase("late", "Running", timeout=300)
    kubectl("create", "configmap", "late-best", "--from-literal=owner=someone-else", namespace=namespace)
    status = cluster.wait_for_phase("late", ("Succeeded", "Failed"), timeout=400)
    failed = condition(status, "Failed")
    assert status["phase"] == "Failed", json.dumps(status, indent=1)
    assert failed["reason"] == "ConfigMapConflict"
    assert "ConfigMap late-best exists and is not owned by this sweep" in failed["message"]
    assert "promoted" not in status
    cluster.wait_for_mirrored_job_status("late", "SUCCEEDED")
    for name in ("taken-best", "late-best"):
        config_map = cluster.config_map(name)
        assert config_map is not None and config_map.data == {"owner": "someone-else"}
        assert not config_map.metadata.owner_references
    cluster.wait_for_events(
        "late",
        lambda found: [e[:2] for e in found[-1:]] == [("Warning", "ConfigMapConflict")],
        "a ConfigMapConflict Warning as the last one",
    )


def test_unreachable_evidence_bucket_is_retried_until_it_is_back(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    s3 = S3Server(tmp_path / "moto.log")  # not started yet: nothing listens on its port
    secret_args = [f"--from-literal={key}={value}" for key, value in s3.credentials.items()]
    kubectl("create", "secret", "generic", "bucket-creds", *secret_args, namespace=namespace)
    start_operator(**s3.client_env)
    evidence = {"uri": "s3://evidence-bucket/runs", "credentialsSecret": "bucket-creds"}
    apply(kubectl, namespace, sweep_manifest("s3-sweep", evidence["uri"], evidence=evidence), tmp_path)
    try:
        down = wait_until(lambda: unreachable(cluster.sweep_status("s3-sweep")), 90, "the bucket down")
        reachable = condition(down, "EvidenceReachable")
        assert reachable["reason"] == "BucketUnreachable"
        assert "s3://evidence-bucket/runs" in reachable["message"]
        assert down.get("phase", "Pending") == "Pending" and cluster.rayjobs() == []
        cluster.wait_for_events(
            "s3-sweep",
            lambda found: ("Warning", "BucketUnreachable") in [e[:2] for e in found],
            "a BucketUnreachable Warning",
        )

        s3.start("evidence-bucket")
        cluster.wait_for_phase("s3-sweep", "Provisioning", timeout=120)
        # the progress timer reads the bucket too, on its own ticks: a read that fails while the server
        # settles flips the condition back to False until the next tick
        status = wait_until(
            lambda: (s := cluster.sweep_status("s3-sweep")) and not unreachable(s) and s,
            120,
            lambda: (
                f"EvidenceReachable=True; status now {json.dumps(cluster.sweep_status('s3-sweep'), indent=1)}"
            ),
        )
        assert condition(status, "EvidenceReachable")["status"] == "True"
        cluster.wait_for_events(
            "s3-sweep",
            lambda found: ("Normal", "BucketReachable") in [e[:2] for e in found],
            "a BucketReachable Event",
        )
        prefix = status["evidenceURI"].removeprefix("s3://evidence-bucket/")
        assert prefix.startswith(f"runs/{namespace}/s3-sweep/")
        plan = s3.client().get_object(Bucket="evidence-bucket", Key=f"{prefix}/plan.json")["Body"].read()
        (rayjob,) = cluster.rayjobs()
        assert rayjob["spec"]["entrypoint"] == f"tunesweep drive --plan {status['evidenceURI']}/plan.json"
        # the credentials reach the Ray pods as a mounted Secret only: never the plan, never env values
        for key, value in s3.credentials.items():
            if key.startswith("AWS_ACCESS") or key.startswith("AWS_SECRET"):
                assert value not in json.dumps(rayjob) and value.encode() not in plan
        head_pod = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
        mounted = {"name": "evidence-credentials", "secret": {"secretName": "bucket-creds"}}
        assert mounted in head_pod["volumes"]
        (head,) = head_pod["containers"]
        assert not [e["name"] for e in head["env"] if e["name"].startswith("AWS_")]
    finally:
        s3.stop()
