"""The admission webhook's decision and its settings and certificates (pure; the webhook on a real API
server is tests/operator/test_admission_apiserver.py)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import ipaddress
from typing import Any, cast

import kopf
import pytest
import yaml
from cryptography import x509
from kubernetes import client
from tunesweep_evidence.spec import Accelerator
from tunesweep_evidence.sweep_manifest import validate_documents
from tunesweep_operator import validation
from tunesweep_operator.admission import WebhookSettings, refusal, set_ca_bundle
from tunesweep_operator.settings import OperatorSettings, SettingsError
from tunesweep_operator.webhook_tls import self_signed

from tests.spec.cases import BAD, BASE, Bad, at, with_edits

IMAGES = {accelerator: f"trainer:{accelerator.value}" for accelerator in Accelerator}
SETTINGS = OperatorSettings(trainer_images=IMAGES)
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def stored(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as the API server sends it to the webhook: in a namespace, with a uid."""
    body = copy.deepcopy(manifest)
    body["metadata"] |= {"namespace": "team-a", "uid": "0f3c"}
    return body


def validate_lines(manifest: dict[str, Any]) -> list[str]:
    """What `tunesweep validate` prints for the manifest, without the file name."""
    return [
        f"{p.path}: {p.message}" if p.path else p.message
        for p in validate_documents(yaml.safe_dump(manifest))
    ]


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_create_is_refused_with_validates_words(case: Bad) -> None:
    lines = validate_lines(case.manifest())
    assert lines, "a bad case that validate passes"
    assert refusal("CREATE", stored(case.manifest()), None, SETTINGS) == "; ".join(lines)


def test_a_valid_sweep_is_admitted() -> None:
    assert refusal("CREATE", stored(BASE), None, SETTINGS) is None


def test_the_operators_own_checks_refuse_too() -> None:
    settings = OperatorSettings(
        trainer_images=IMAGES, default_evidence_uri="s3://evidence"
    )  # allowed: s3://evidence/{namespace}/
    found = refusal("CREATE", stored(BASE), None, settings)
    assert found is not None and found.startswith("spec.evidence.uri: the sweep's evidence folder")
    sweep = validation.parse_sweep(stored(BASE))
    assert found == "; ".join(validation.problems(sweep, settings))


def test_an_update_that_leaves_the_spec_alone_is_never_refused() -> None:
    # a sweep stored before a rule existed: kopf's annotations and finalizer must still be written
    bad = stored(with_edits(at("spec.searchSpace", **{"training.lr": {"choice": [0.1]}})))
    annotated = copy.deepcopy(bad)
    annotated["metadata"]["finalizers"] = ["tunesweep.dev/progress-timer"]
    assert refusal("UPDATE", annotated, bad, SETTINGS) is None
    edited = copy.deepcopy(annotated)
    edited["spec"]["trials"]["count"] = 5
    assert refusal("UPDATE", edited, bad, SETTINGS) == "; ".join(validate_lines(bad))


def test_a_fixing_update_is_admitted() -> None:
    bad = stored(with_edits(at("spec.searchSpace", **{"training.lr": {"choice": [0.1]}})))
    assert refusal("UPDATE", stored(BASE), bad, SETTINGS) is None


def test_webhook_settings_from_env() -> None:
    assert WebhookSettings.from_env({}) is None
    hosts = {
        "TUNESWEEP_WEBHOOK_PORT": "9443",
        "TUNESWEEP_WEBHOOK_HOSTS": "ts-webhook.ts-system.svc, 127.0.0.1",
        "TUNESWEEP_WEBHOOK_CONFIGURATION": "ts-webhook",
    }
    assert WebhookSettings.from_env(hosts) == WebhookSettings(
        9443, None, ("ts-webhook.ts-system.svc", "127.0.0.1"), "ts-webhook"
    )
    mounted = {"TUNESWEEP_WEBHOOK_PORT": "9443", "TUNESWEEP_WEBHOOK_CERT_DIR": "/certs"}
    settings = WebhookSettings.from_env(mounted)
    assert settings is not None and str(settings.cert_dir) == "/certs"
    with pytest.raises(SettingsError, match="TUNESWEEP_WEBHOOK_PORT='https' is not a TCP port"):
        WebhookSettings.from_env({"TUNESWEEP_WEBHOOK_PORT": "https"})
    with pytest.raises(SettingsError, match="set TUNESWEEP_WEBHOOK_CERT_DIR"):
        WebhookSettings.from_env({"TUNESWEEP_WEBHOOK_PORT": "9443", "TUNESWEEP_WEBHOOK_HOSTS": "a.svc"})


def test_self_signed_serving_certificate() -> None:
    made = self_signed(["ts-webhook.ts-system.svc", "127.0.0.1"], NOW)
    ca = x509.load_pem_x509_certificate(made.ca_pem)
    cert = x509.load_pem_x509_certificate(made.cert_pem)
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["ts-webhook.ts-system.svc"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc
    assert b"PRIVATE KEY" in made.key_pem and b"PRIVATE KEY" not in made.ca_pem + made.cert_pem
    # each start makes a new CA: nothing to keep between starts
    assert self_signed(["a.svc"], NOW).ca_pem != self_signed(["a.svc"], NOW).ca_pem
    with pytest.raises(ValueError, match="at least one host"):
        self_signed([], NOW)


class FakeAdmissionApi:
    """What set_ca_bundle calls of AdmissionregistrationV1Api, recorded."""

    def __init__(self, webhooks: int) -> None:
        self.webhooks = webhooks
        self.patches: list[tuple[str, Any]] = []

    def read_validating_webhook_configuration(self, name: str) -> Any:
        return client.V1ValidatingWebhookConfiguration(
            webhooks=[
                client.V1ValidatingWebhook(
                    name=f"w{index}.tunesweep.dev",
                    admission_review_versions=["v1"],
                    side_effects="None",
                    client_config=client.AdmissionregistrationV1WebhookClientConfig(url="https://x"),
                )
                for index in range(self.webhooks)
            ]
        )

    def patch_validating_webhook_configuration(self, name: str, body: Any) -> None:
        self.patches.append((name, body))


def test_the_ca_goes_into_every_webhook_of_the_configuration() -> None:
    api = FakeAdmissionApi(webhooks=2)
    set_ca_bundle(cast(client.AdmissionregistrationV1Api, api), "ts-webhook", b"CA PEM")
    bundle = base64.b64encode(b"CA PEM").decode()
    assert api.patches == [
        (
            "ts-webhook",
            [
                {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": bundle},
                {"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": bundle},
            ],
        )
    ]
    with pytest.raises(kopf.PermanentError, match="ts-webhook has no webhooks"):
        set_ca_bundle(
            cast(client.AdmissionregistrationV1Api, FakeAdmissionApi(webhooks=0)), "ts-webhook", b"CA"
        )
