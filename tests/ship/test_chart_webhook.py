"""The chart's admission webhook (values `webhook`): on by default, with a CA the operator makes; the
operator's env, port, TLS and RBAC agree with the Service and the ValidatingWebhookConfiguration; off, none
of it. The objects on a real API server, with the operator serving them:
tests/operator/test_admission_apiserver.py and tests/ship/test_install_apiserver.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from tunesweep_operator.admission import WEBHOOK_ID, WebhookSettings

from tests.ship.chart import (
    CHART,
    NAMESPACE,
    is_webhook,
    kinds,
    notes,
    one,
    operator_container,
    plain_env,
    render,
    without_webhook,
)

WEBHOOK_RULES = CHART / "files" / "webhook-rules.yaml"
WEBHOOK_ONLY = {"ValidatingWebhookConfiguration", "Certificate", "Issuer"}


def test_on_by_default_with_a_ca_the_operator_makes(helm: Path) -> None:
    docs = render(helm)
    assert kinds([doc for doc in docs if is_webhook(doc)]) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "ValidatingWebhookConfiguration",
    ]
    [hook] = one(docs, "ValidatingWebhookConfiguration")["webhooks"]
    assert hook["failurePolicy"] == "Fail" and "namespaceSelector" not in hook  # every namespace
    settings = WebhookSettings.from_env(plain_env(operator_container(docs)))
    assert settings is not None and settings.cert_dir is None and settings.port == 9443


def test_off(helm: Path) -> None:
    docs = render(helm, "--set", "webhook.enabled=false")
    assert not [doc for doc in docs if is_webhook(doc)] and not WEBHOOK_ONLY & set(kinds(docs))
    container = operator_container(docs)
    assert not [name for name in plain_env(container) if name.startswith("TUNESWEEP_WEBHOOK_")]
    assert "webhook" not in {port["name"] for port in container["ports"]}
    assert {"port": 9443, "protocol": "TCP"} not in one(docs, "NetworkPolicy")["spec"]["ingress"][0]["ports"]
    assert kinds(without_webhook(render(helm))) == kinds(docs)


def test_operator_made_ca(helm: Path) -> None:
    docs = render(helm, "--set", "webhook.port=8443,watchNamespaces={team-a}")
    configuration = one(docs, "ValidatingWebhookConfiguration")
    [hook] = configuration["webhooks"]
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-webhook"))
    assert hook["clientConfig"] == {
        "service": {
            "name": service["metadata"]["name"],
            "namespace": NAMESPACE,
            "path": f"/{WEBHOOK_ID}",
            "port": service["spec"]["ports"][0]["port"],
        }
    }
    assert (hook["sideEffects"], hook["failurePolicy"]) == ("None", "Fail")
    assert hook["rules"] == [
        {
            "apiGroups": ["tunesweep.dev"],
            "apiVersions": ["v1alpha1"],
            "resources": ["tuningsweeps"],
            "operations": ["CREATE", "UPDATE"],
            "scope": "Namespaced",
        }
    ]
    assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == ["team-a"]
    container = operator_container(docs)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] == "webhook" and ports["webhook"] == 8443
    # not ready (KubeRay missing) still serves the webhook: sweeps wait in Pending rather than being refused
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert (
        service["spec"]["selector"].items()
        <= one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )
    # the certificate names what the API server dials; the CA goes into this configuration
    settings = WebhookSettings.from_env(plain_env(container))
    assert settings == WebhookSettings(
        8443, None, (f"{service['metadata']['name']}.{NAMESPACE}.svc",), configuration["metadata"]["name"]
    )
    # RBAC: get and patch of that one configuration, from files/webhook-rules.yaml
    [rule] = yaml.safe_load(WEBHOOK_RULES.read_text())
    role = next(d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-webhook"))
    assert role["rules"] == [rule | {"resourceNames": [configuration["metadata"]["name"]]}]
    policy = one(docs, "NetworkPolicy")
    assert {"port": 8443, "protocol": "TCP"} in policy["spec"]["ingress"][0]["ports"]


def test_cert_manager(helm: Path) -> None:
    docs = render(helm, "--set", "webhook.certManager.enabled=true")
    certificate = one(docs, "Certificate")
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-webhook"))
    assert certificate["spec"]["dnsNames"] == [f"{service['metadata']['name']}.{NAMESPACE}.svc"]
    assert certificate["spec"]["issuerRef"] == {
        "kind": "Issuer",
        "name": one(docs, "Issuer")["metadata"]["name"],
    }
    configuration = one(docs, "ValidatingWebhookConfiguration")
    assert configuration["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": f"{NAMESPACE}/{certificate['metadata']['name']}"
    }
    # the Secret cert-manager writes is mounted where the operator reads it; no RBAC on the configuration
    container = operator_container(docs)
    settings = WebhookSettings.from_env(plain_env(container))
    assert settings is not None and settings.cert_dir is not None
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(settings.cert_dir)]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert not [d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-webhook")]
    issued_by = "webhook.certManager.issuerRef.kind=ClusterIssuer,webhook.certManager.issuerRef.name=ca"
    docs = render(helm, "--set", f"webhook.certManager.enabled=true,{issued_by}")
    assert "Issuer" not in kinds(docs)
    assert one(docs, "Certificate")["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "ca"}


def test_notes_say_what_the_webhook_refuses(helm: Path, tmp_path: Path) -> None:
    text = notes(helm, tmp_path / "on")
    assert "admission webhook" in text and "While the operator is down" in text, text
    assert "admission webhook" not in notes(helm, tmp_path / "off", "--set", "webhook.enabled=false")
