"""The KubeRay stand-in (NOT KubeRay) on the real control plane: status semantics, env, deadlines, faults."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.support.kuberay_standin import FINALIZER, KubeRayStandIn, make_rayjob

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _create(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> None:
    kubectl("create", "-f", "-", namespace=namespace, input=json.dumps(body))


def _get(kubectl: Kubectl, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    proc = kubectl("get", kind, name, "-o", "json", namespace=namespace, check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr, proc.stderr
        return None
    obj: dict[str, Any] = json.loads(proc.stdout)
    return obj


def test_successful_job(kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str) -> None:
    _create(
        kubectl,
        namespace,
        make_rayjob(
            "ok", "echo hello from $RAY_PLACE; exit 0", env=[{"name": "RAY_PLACE", "value": "the head"}]
        ),
    )
    obj = kuberay_standin.wait_for(namespace, "ok", deployment_status=("Complete", "Failed"))
    st = obj["status"]
    assert st["jobDeploymentStatus"] == "Complete" and st["jobStatus"] == "SUCCEEDED"
    assert st["succeeded"] == 1 and st["failed"] == 0
    assert re.fullmatch(r"ok-[bcdfghjklmnpqrstvwxz2456789]{5}", st["rayClusterName"])
    assert re.fullmatch(r"ok-[a-z0-9]{5}", st["jobId"])
    assert st["dashboardURL"] == f"{st['rayClusterName']}-head-svc.{namespace}.svc.cluster.local:8265"
    assert st["startTime"] and st["endTime"] and st["rayJobInfo"]["endTime"]
    assert "reason" not in st
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    assert kuberay_standin.log_path(namespace, "ok").read_text() == "hello from the head\n"

    cluster = _get(kubectl, namespace, "raycluster", st["rayClusterName"])
    assert cluster is not None
    assert cluster["metadata"]["labels"]["ray.io/originated-from-crd"] == "RayJob"
    assert cluster["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "ok"
    (owner,) = cluster["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "RayJob",
        "ok",
        obj["metadata"]["uid"],
        True,
    )
    assert cluster["status"]["state"] == "ready"
    assert kuberay_standin.errors == []


def test_failing_job(kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str) -> None:
    _create(kubectl, namespace, make_rayjob("bad", "echo about to fail >&2; exit 3"))
    obj = kuberay_standin.wait_for(namespace, "bad", deployment_status=("Complete", "Failed"))
    st = obj["status"]
    assert (st["jobDeploymentStatus"], st["jobStatus"], st["reason"]) == ("Failed", "FAILED", "AppFailed")
    assert st["failed"] == 1 and st["succeeded"] == 0
    assert "exit code 3" in st["message"] and "about to fail" in st["message"]


def test_env_from_secret_configmap_and_runtime_env(
    kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("create", "secret", "generic", "creds", "--from-literal=token=s3cr3t", namespace=namespace)
    kubectl("create", "configmap", "settings", "--from-literal=region=eu-test-1", namespace=namespace)
    env: list[dict[str, Any]] = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "REGION", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "region"}}},
        {"name": "URL", "value": "s3://$(REGION)/bucket"},
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "OVERRIDDEN", "value": "container"},
    ]
    runtime_env = yaml.safe_dump({"env_vars": {"FROM_RUNTIME_ENV": "yes", "OVERRIDDEN": "runtime"}})
    script = (
        'test "$TOKEN" = s3cr3t && echo "$REGION $URL $POD_NS $FROM_RUNTIME_ENV $OVERRIDDEN"'
        " && command -v python"
    )
    _create(kubectl, namespace, make_rayjob("env", script, env=env, runtimeEnvYAML=runtime_env))
    obj = kuberay_standin.wait_for(namespace, "env", deployment_status=("Complete", "Failed"))
    out = kuberay_standin.log_path(namespace, "env").read_text()
    assert obj["status"]["jobStatus"] == "SUCCEEDED", out
    assert out.splitlines()[0] == f"eu-test-1 s3://eu-test-1/bucket {namespace} yes runtime"


def test_missing_secret_keeps_job_initializing(
    kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str
) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "later", "key": "token"}}}]
    _create(kubectl, namespace, make_rayjob("waits", 'test "$TOKEN" = ok', env=env))
    kuberay_standin.wait_for(namespace, "waits", deployment_status="Initializing")
    assert "HeadPodNotStarted" in [what for _, what, _ in kuberay_standin.events]
    kubectl("create", "secret", "generic", "later", "--from-literal=token=ok", namespace=namespace)
    obj = kuberay_standin.wait_for(namespace, "waits", deployment_status=("Complete", "Failed"))
    assert obj["status"]["jobStatus"] == "SUCCEEDED"


def test_active_deadline_kills_long_job(
    kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str
) -> None:
    _create(kubectl, namespace, make_rayjob("slow", "echo started; sleep 300", activeDeadlineSeconds=3))
    kuberay_standin.wait_for(namespace, "slow", lambda o: o.get("status", {}).get("jobStatus") == "RUNNING")
    proc = kuberay_standin.process(namespace, "slow")
    assert proc is not None and proc.poll() is None
    obj = kuberay_standin.wait_for(namespace, "slow", deployment_status=("Complete", "Failed"), timeout=30)
    st = obj["status"]
    assert (st["jobDeploymentStatus"], st["reason"]) == ("Failed", "DeadlineExceeded")
    assert "activeDeadlineSeconds" in st["message"]
    assert st["jobStatus"] == "RUNNING"  # as KubeRay: the deadline does not rewrite the Ray job's status
    assert proc.wait(10) is not None


def test_shutdown_after_job_finishes_deletes_cluster(
    kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str
) -> None:
    _create(kubectl, namespace, make_rayjob("tidy", "true", shutdownAfterJobFinishes=True))
    obj = kuberay_standin.wait_for(namespace, "tidy", deployment_status="Complete")
    cluster = obj["status"]["rayClusterName"]
    _wait_gone(kubectl, namespace, "raycluster", cluster)


def test_deleting_rayjob_kills_process_and_collects_cluster(
    kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str
) -> None:
    _create(kubectl, namespace, make_rayjob("gone", "sleep 300"))
    obj = kuberay_standin.wait_for(
        namespace, "gone", lambda o: o.get("status", {}).get("jobStatus") == "RUNNING"
    )
    cluster = obj["status"]["rayClusterName"]
    proc = kuberay_standin.process(namespace, "gone")
    assert proc is not None
    kubectl("delete", "rayjob", "gone", "--wait=true", "--timeout=30s", namespace=namespace)
    assert proc.wait(10) is not None
    # The RayCluster goes through owner-reference garbage collection (kube-controller-manager).
    _wait_gone(kubectl, namespace, "raycluster", cluster)


def _wait_gone(kubectl: Kubectl, namespace: str, kind: str, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _get(kubectl, namespace, kind, name) is not None:
        if time.monotonic() > deadline:
            pytest.fail(f"{kind} {namespace}/{name} still exists after {timeout}s")
        time.sleep(0.2)


def test_fault_injection(kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str) -> None:
    for name in ("victim", "orphan"):
        _create(kubectl, namespace, make_rayjob(name, "sleep 300"))
    for name in ("victim", "orphan"):
        kuberay_standin.wait_for(namespace, name, lambda o: o.get("status", {}).get("jobStatus") == "RUNNING")

    kuberay_standin.fail_job(namespace, "victim", "worker OOM (injected)")
    st = kuberay_standin.get(namespace, "victim")["status"]
    assert (st["jobDeploymentStatus"], st["jobStatus"], st["reason"], st["message"]) == (
        "Failed",
        "FAILED",
        "AppFailed",
        "worker OOM (injected)",
    )

    cluster = kuberay_standin.get(namespace, "orphan")["status"]["rayClusterName"]
    kuberay_standin.take_job_away(namespace, "orphan")
    st = kuberay_standin.get(namespace, "orphan")["status"]
    assert (st["jobDeploymentStatus"], st["reason"]) == ("Failed", "SubmissionFailed")
    _wait_gone(kubectl, namespace, "raycluster", cluster)


def test_cluster_deleted_under_running_job_fails_it(
    kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str
) -> None:
    _create(kubectl, namespace, make_rayjob("lost", "sleep 300"))
    obj = kuberay_standin.wait_for(
        namespace, "lost", lambda o: o.get("status", {}).get("jobStatus") == "RUNNING"
    )
    kubectl("delete", "raycluster", obj["status"]["rayClusterName"], namespace=namespace)
    st = kuberay_standin.wait_for(namespace, "lost", deployment_status="Failed")["status"]
    assert st["reason"] == "SubmissionFailed"


def test_suspend_and_resume(kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str) -> None:
    _create(kubectl, namespace, make_rayjob("paused", "echo ran", suspend=True))
    obj = kuberay_standin.wait_for(namespace, "paused", deployment_status="Suspended")
    assert "rayClusterName" not in obj["status"]
    kubectl(
        "patch", "rayjob", "paused", "--type=merge", "-p", '{"spec":{"suspend":false}}', namespace=namespace
    )
    obj = kuberay_standin.wait_for(namespace, "paused", deployment_status="Complete")
    assert obj["status"]["jobStatus"] == "SUCCEEDED"


def test_backoff_limit_retries(kuberay_standin: KubeRayStandIn, kubectl: Kubectl, namespace: str) -> None:
    _create(kubectl, namespace, make_rayjob("flaky", "exit 1", backoffLimit=1))
    obj = kuberay_standin.wait_for(namespace, "flaky", deployment_status="Failed", timeout=60)
    assert obj["status"]["failed"] == 2
    assert len(kuberay_standin.log_paths(namespace, "flaky")) == 2
