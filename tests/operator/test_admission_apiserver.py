"""The admission webhook on a real API server: the chart's ValidatingWebhookConfiguration and webhook
RBAC, the operator serving the webhook with the CA it made and wrote into the caBundle itself. The one
difference from a cluster: the API server calls the operator at https://127.0.0.1 (it runs here as a
process, not behind the chart's Service), so the certificate is made for that address."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.operator.cluster import (
    ASYNC_TIMEOUT,
    SERVICE_ACCOUNT,
    Cluster,
    OperatorProcess,
    operator_user,
    wait_until,
)
from tests.operator.conftest import StartOperator
from tests.operator.sweeps import sweep_manifest
from tests.operator.webhook import LOCAL_ENV, call_here, serving, validate_says
from tests.ship.chart import one, operator_container, plain_env, render
from tests.spec.cases import BAD, Bad
from tests.support.controlplane import ControlPlane, free_port
from tests.support.moto_server import S3Server

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
WEBHOOK_KINDS = ("ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration")
PYTHON_ONLY: list[Bad] = [case for case in BAD if not case.server]
"""The bad specs the CRD cannot refuse: the webhook's to catch."""


def server_side_apply(
    kubectl: Kubectl, namespace: str, manifest: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return kubectl(
        "apply", "--server-side", "--field-manager=test", "-f", "-", namespace=namespace,
        input=yaml.safe_dump(manifest), check=False,
    )  # fmt: skip


@pytest.fixture
def webhook_env(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """The chart's webhook objects (webhook.enabled, the operator's own CA, serving `namespace`) on the
    API server, pointed at 127.0.0.1; the operator env the chart gives, for that address."""
    port = free_port()
    values = ",".join(
        (
            "webhook.enabled=true",
            f"webhook.port={port}",
            f"serviceAccount.name={SERVICE_ACCOUNT}",
            f"watchNamespaces={{{namespace}}}",
        )
    )
    docs = render(control_plane.helm_path, "--set", values, release=f"adm-{namespace}", namespace=namespace)
    webhook = [doc for doc in docs if doc["kind"] in WEBHOOK_KINDS]
    configuration = one(webhook, "ValidatingWebhookConfiguration")
    call_here(configuration, port)
    (tmp_path / "webhook.yaml").write_text(yaml.safe_dump_all(webhook))
    kubectl("apply", "--server-side", "-f", str(tmp_path / "webhook.yaml"))
    name = configuration["metadata"]["name"]
    wait_for_patch_grant(control_plane, operator_user(namespace), name)
    env = {k: v for k, v in plain_env(operator_container(docs)).items() if k.startswith("TUNESWEEP_WEBHOOK_")}
    yield env | LOCAL_ENV
    for doc in webhook:
        kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found", check=False)


def wait_for_patch_grant(cp: ControlPlane, user: str, name: str) -> None:
    authorization = client.AuthorizationV1Api(cp.api_client())
    attributes = {
        "group": "admissionregistration.k8s.io",
        "resource": "validatingwebhookconfigurations",
        "name": name,
        "verb": "patch",
    }

    def granted() -> bool:
        review = {"spec": {"user": user, "resourceAttributes": attributes}}
        return bool(authorization.create_subject_access_review(review).status.allowed)

    wait_until(granted, ASYNC_TIMEOUT, f"RBAC to let {user} patch ValidatingWebhookConfiguration {name}")


def test_the_api_server_refuses_what_validate_refuses(
    start_operator: StartOperator, webhook_env: dict[str, str], kubectl: Kubectl, namespace: str
) -> None:
    start_operator(**webhook_env)
    serving(kubectl, namespace)
    assert PYTHON_ONLY
    for case in PYTHON_ONLY:
        manifest = case.manifest()
        proc = server_side_apply(kubectl, namespace, manifest)
        assert proc.returncode != 0, f"{case.id}: stored"
        said = f'admission webhook "tuningsweeps.tunesweep.dev" denied the request: {validate_says(manifest)}'
        assert said in proc.stderr, f"{case.id}: {proc.stderr}"
    found = kubectl("get", "tuningsweeps", "-o", "name", namespace=namespace).stdout
    assert found.strip() == ""


def test_edits_until_the_plan_is_frozen_and_not_after(
    start_operator: StartOperator,
    webhook_env: dict[str, str],
    kubectl: Kubectl,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    s3 = S3Server(tmp_path / "moto.log")  # not started yet: the plan cannot be frozen
    operator = start_operator(**webhook_env, **s3.client_env)
    serving(kubectl, namespace)
    manifest = sweep_manifest("edited", "s3://evidence-bucket/runs")
    assert server_side_apply(kubectl, namespace, manifest).returncode == 0
    try:
        wait_until(
            lambda: any(c["type"] == "EvidenceReachable" and c["status"] == "False"
                        for c in cluster.sweep_status("edited").get("conditions", [])),
            90,
            lambda: f"the bucket down; status {json.dumps(cluster.sweep_status('edited'))}",
        )  # fmt: skip
        assert not cluster.sweep_status("edited").get("evidenceURI")
        # before the plan is frozen: an edit is admitted, a broken one refused with validate's words
        broken = json.loads(json.dumps(manifest))
        broken["spec"]["searchSpace"]["training.lr"] = {"choice": [0.1]}
        refused = server_side_apply(kubectl, namespace, broken)
        assert refused.returncode != 0 and validate_says(broken) in refused.stderr, refused.stderr
        manifest["spec"]["trials"]["count"] = 6
        manifest["spec"]["searchSpace"]["training.weight_decay"] = {"choice": [0.0, 0.1]}
        edited = server_side_apply(kubectl, namespace, manifest)
        assert edited.returncode == 0, edited.stderr

        s3.start("evidence-bucket")  # the operator freezes the plan from the spec as it is now
        status = wait_until(
            lambda: (s := cluster.sweep_status("edited")).get("evidenceURI") and s,
            120,
            lambda: (
                f"the plan frozen; status {json.dumps(cluster.sweep_status('edited'))}\n{operator.tail()}"
            ),
        )
        key = status["evidenceURI"].removeprefix("s3://evidence-bucket/") + "/plan.json"
        plan = json.loads(s3.client().get_object(Bucket="evidence-bucket", Key=key)["Body"].read())
        assert plan["spec"]["trials"]["count"] == 6
        assert set(plan["spec"]["searchSpace"]) == set(manifest["spec"]["searchSpace"])

        # frozen: what the plan holds is refused, the rest stays editable
        manifest["spec"]["trials"]["count"] = 8
        refused = server_side_apply(kubectl, namespace, manifest)
        assert refused.returncode != 0
        assert "spec.trials is immutable once the sweep's plan is frozen" in refused.stderr, refused.stderr
        manifest["spec"]["trials"]["count"] = 6
        manifest["spec"]["promotion"] = {"minScore": 0.5}
        edited = server_side_apply(kubectl, namespace, manifest)
        assert edited.returncode == 0, edited.stderr
    finally:
        s3.stop()


def test_an_operator_that_cannot_hand_over_its_ca_stops_and_says_why(
    operator_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    env = {
        "TUNESWEEP_WEBHOOK_PORT": str(free_port()),
        **LOCAL_ENV,
        "TUNESWEEP_WEBHOOK_CONFIGURATION": f"missing-{namespace}",
    }
    operator = OperatorProcess(namespace, operator_kubeconfig, tmp_path / "operator.log", env)
    try:
        wait_until(
            lambda: operator.popen.poll() is not None,
            ASYNC_TIMEOUT,
            lambda: f"the operator to stop:\n{operator.tail()}",
        )
        assert operator.popen.returncode != 0
        said = (
            f"cannot write the webhook's CA into ValidatingWebhookConfiguration missing-{namespace} (HTTP 403"
        )
        assert said in operator.tail(), operator.tail()
    finally:
        operator.stop()
