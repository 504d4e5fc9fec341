"""Ray access on the cluster path: with Ray token auth (the default), a sweep's Ray head refuses a job
from anyone without the sweep's token, while the sweep's own submission (KubeRay's submitter, then the
driver on the head) runs with it and the sweep succeeds; the sweep's token Secret and NetworkPolicy
exist on the API server, owned by it.

The test control plane has no CNI, so nothing enforces the NetworkPolicy here: its selectors are
checked as rendered (tests/operator/test_rayjob.py) and as stored.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import SweepSummary
from tunesweep_operator import names

from tests.operator.cluster import Cluster, wait_until
from tests.operator.conftest import StartOperator
from tests.operator.ray_cluster import ray_pods
from tests.operator.sweeps import sweep_manifest
from tests.support.kubelet import KubeletStandIn

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
PEERS = {"peers": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "tunesweep"}}}]}


def submit(head_ip: str, token: str | None) -> tuple[int, str]:
    """POST a job to the head's job API as `ray job submit` would, with `token` or none; (status, body)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"entrypoint": "echo intruder"}).encode()
    request = urllib.request.Request(f"http://{head_ip}:8265/api/jobs/", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def jobs(head_ip: str, token: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"http://{head_ip}:8265/api/jobs/", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        found: list[dict[str, Any]] = json.loads(response.read())
        return found


def dashboard_up(head_ip: str) -> bool:
    try:  # a public path: the dashboard answers it without a token
        with urllib.request.urlopen(f"http://{head_ip}:8265/api/gcs_healthz", timeout=5) as response:
            return int(response.status) == 200
    except OSError:
        return False


def owner_uid(obj: Any) -> str:
    (ref,) = obj.metadata.owner_references
    assert ref.kind == "TuningSweep" and ref.controller
    return str(ref.uid)


def test_ray_head_refuses_jobs_without_the_sweeps_token(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    start_operator(TUNESWEEP_RAY_NETWORK_POLICY=json.dumps(PEERS))  # Ray auth: on by default
    manifest = sweep_manifest("auth-sweep", f"file://{tmp_path}/evidence")
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(manifest))
    kubectl("apply", "-f", str(path), namespace=namespace)

    status = cluster.wait_for_phase("auth-sweep", ("Provisioning", "Running", "Failed"), timeout=120)
    assert status["phase"] != "Failed", json.dumps(status, indent=1)
    uid = (cluster.sweep("auth-sweep") or {})["metadata"]["uid"]

    # the token Secret and the NetworkPolicy, owned by the sweep; the token never in the RayJob
    secret = cluster.core.read_namespaced_secret(names.ray_auth_secret_name("auth-sweep", uid), namespace)
    assert owner_uid(secret) == uid and secret.immutable
    token = base64.b64decode(secret.data["token"]).decode()
    assert len(token) >= 32
    networking = client.NetworkingV1Api(cluster.core.api_client)
    policy_name = names.network_policy_name("auth-sweep", uid)
    policy = networking.read_namespaced_network_policy(policy_name, namespace)
    assert owner_uid(policy) == uid
    own = {names.LABEL_SWEEP_UID: uid}
    assert policy.spec.pod_selector.match_labels == own
    (rule,) = policy.spec.ingress
    peers = [p.pod_selector.match_labels for p in rule._from]
    assert peers == [own, PEERS["peers"][0]["podSelector"]["matchLabels"]]
    (rayjob,) = cluster.rayjobs()
    assert token not in json.dumps(rayjob)

    # the head's dashboard is up (Ray started with the token file: without it `ray start` fails)
    rayjob = cluster.wait_for_rayjob(
        rayjob["metadata"]["name"], lambda j: bool((j.get("status") or {}).get("rayClusterName")), "a cluster"
    )
    ray_cluster = rayjob["status"]["rayClusterName"]

    def head_ip() -> str | None:
        pods = ray_pods(cluster.core, namespace, ray_cluster)
        ip = pods.head[0].status.pod_ip if pods.head else None
        return ip if ip and dashboard_up(ip) else None

    ip = wait_until(head_ip, 300, "the head's dashboard to answer")
    pods = ray_pods(cluster.core, namespace, ray_cluster)
    for pod in [*pods.head, *pods.workers]:
        assert pod.metadata.labels[names.LABEL_SWEEP_UID] == uid  # the NetworkPolicy selects them

    # a job without the token, or with another one, is refused; nothing runs
    refused, said = submit(ip, None)
    assert refused == 401, (refused, said)
    wrong, said = submit(ip, "not-the-sweeps-token")
    assert wrong == 403, (wrong, said)
    assert all("intruder" not in job["entrypoint"] for job in jobs(ip, token))

    # the sweep's own submission goes through: KubeRay's submitter (token file, RAY_AUTH_MODE) submits
    # the driver, which runs on the head with the head's token
    batch = client.BatchV1Api(cluster.core.api_client)
    submitter = wait_until(
        lambda: next(iter(batch.list_namespaced_job(namespace).items), None), 300, "KubeRay's submitter Job"
    )
    (container,) = submitter.spec.template.spec.containers
    env = {e.name: e.value for e in container.env or []}
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"].endswith("/token")
    assert "RAY_AUTH_TOKEN" not in env

    # KubeRay cannot read the job's end through the token; the driver's final summary is the verdict,
    # the operator promotes, then deletes the RayJob so that its cluster goes at once (KubeRay would
    # otherwise mark it Failed and run the driver again)
    status = cluster.wait_for_phase("auth-sweep", ("Succeeded", "Failed"), timeout=400)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    summary = bucket.read_document(layout.join(status["evidenceURI"], layout.SWEEP_SUMMARY), SweepSummary)
    assert summary.status == "succeeded" and status["bestTrial"]["id"] == summary.best_trial.trial_id
    assert cluster.config_map("auth-sweep-best") is not None
    wait_until(lambda: not cluster.rayjobs(), 120, "the operator to delete the RayJob after the verdict")
    custom = client.CustomObjectsApi(cluster.core.api_client)
    wait_until(
        lambda: not custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters")["items"],
        120,
        "the sweep's Ray cluster to go with its RayJob",
    )
    events = cluster.wait_for_events(
        "auth-sweep", lambda found: ("Normal", "Promoted") in [e[:2] for e in found], "the promotion"
    )
    assert "Retrying" not in [reason for _, reason, _ in events], events
