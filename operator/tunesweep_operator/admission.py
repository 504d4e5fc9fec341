"""The validating admission webhook for TuningSweeps, served by the operator (kopf's admission server).

The API server asks before it stores a sweep (CREATE) or a changed spec (UPDATE), and the webhook
refuses what the operator would fail it for, with the same words: `tunesweep validate`'s checks
(`validation.parse_sweep`: search-space paths, baseConfig keys, the training config's limits, ...)
and the operator's own (`validation.problems`: no image, evidence outside the allowed prefixes, ...).
An UPDATE that leaves the spec as it was (metadata, finalizers, kopf's annotations) is never refused,
so a sweep stored before a rule existed can still be handled and deleted.

Which spec fields may change once the plan is frozen is the CRD's (a CEL transition rule on
status.evidenceURI), so it holds with or without this webhook.

Configured from the environment (the chart's `webhook` values):
- TUNESWEEP_WEBHOOK_PORT: serve the webhook on this port over HTTPS; unset: no webhook.
- TUNESWEEP_WEBHOOK_CERT_DIR: `tls.crt`, `tls.key` and `ca.crt` (a cert-manager Secret, re-read when
  they change). Unset: the operator makes its own CA at each start (`webhook_tls`) for the names in
  TUNESWEEP_WEBHOOK_HOSTS (comma-separated, e.g. the Service's `<svc>.<namespace>.svc`) and writes it
  into the caBundle of ValidatingWebhookConfiguration TUNESWEEP_WEBHOOK_CONFIGURATION.
"""

from __future__ import annotations

import base64
import copy
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.rest import ApiException
from tunesweep_evidence.spec import GROUP, PLURAL, VERSION

from . import validation, webhook_tls
from .kube import new_api_client
from .settings import OperatorSettings, SettingsError

WEBHOOK_ID = "validate-tuningsweep"
"""kopf serves each handler at /<its id>: the webhook configuration's URL path."""
LISTEN_ADDRESS = "0.0.0.0"
UNPROCESSABLE = 422


@dataclass(frozen=True)
class WebhookSettings:
    port: int
    cert_dir: Path | None = None
    """None: a self-signed CA made at start."""
    hosts: tuple[str, ...] = ()
    configuration: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings | None:
        env = os.environ if environ is None else environ
        raw = env.get("TUNESWEEP_WEBHOOK_PORT", "").strip()
        if not raw:
            return None
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise SettingsError(f"TUNESWEEP_WEBHOOK_PORT={raw!r} is not a TCP port (1-65535)")
        cert_dir = env.get("TUNESWEEP_WEBHOOK_CERT_DIR", "").strip()
        hosts = tuple(h.strip() for h in env.get("TUNESWEEP_WEBHOOK_HOSTS", "").split(",") if h.strip())
        configuration = env.get("TUNESWEEP_WEBHOOK_CONFIGURATION", "").strip()
        if not cert_dir and not (hosts and configuration):
            raise SettingsError(
                "TUNESWEEP_WEBHOOK_PORT is set but the webhook has no certificate: set "
                "TUNESWEEP_WEBHOOK_CERT_DIR (tls.crt, tls.key, ca.crt), or TUNESWEEP_WEBHOOK_HOSTS and "
                "TUNESWEEP_WEBHOOK_CONFIGURATION for a CA the operator makes itself"
            )
        return cls(int(raw), Path(cert_dir) if cert_dir else None, hosts, configuration)


def refusal(
    operation: str | None, new: dict[str, Any], old: dict[str, Any] | None, settings: OperatorSettings
) -> str | None:
    """Why the API server must not store `new` (one line per problem, joined), or None."""
    if operation == "UPDATE" and old is not None and new.get("spec") == old.get("spec"):
        return None
    try:
        sweep = validation.parse_sweep(new)
    except validation.InvalidSweep as error:
        return "; ".join(error.problems)
    return "; ".join(validation.problems(sweep, settings)) or None


def register_admission(
    registry: kopf.OperatorRegistry, settings: OperatorSettings, webhook: WebhookSettings
) -> None:
    def serve(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.admission.server = _server(webhook)

    def check(body: kopf.Body, old: kopf.Body | None = None, operation: str | None = None, **_: Any) -> None:
        before = copy.deepcopy(dict(old)) if old is not None else None
        found = refusal(operation, copy.deepcopy(dict(body)), before, settings)
        if found:
            raise kopf.AdmissionError(found, code=UNPROCESSABLE)

    kopf.on.startup(registry=registry)(serve)
    kopf.on.validate(
        GROUP, VERSION, PLURAL, id=WEBHOOK_ID, operations=["CREATE", "UPDATE"], registry=registry
    )(check)


def _server(webhook: WebhookSettings) -> kopf.WebhookServer:
    if webhook.cert_dir is not None:
        folder = webhook.cert_dir
        return kopf.WebhookServer(
            addr=LISTEN_ADDRESS,
            port=webhook.port,
            certfile=folder / "tls.crt",
            pkeyfile=folder / "tls.key",
            cafile=folder / "ca.crt",
        )
    made = webhook_tls.self_signed(webhook.hosts, datetime.now(UTC))
    folder = Path(tempfile.mkdtemp(prefix="tunesweep-webhook-"))  # mode 0700
    (folder / "tls.crt").write_bytes(made.cert_pem)
    (folder / "tls.key").write_bytes(made.key_pem)
    try:
        set_ca_bundle(client.AdmissionregistrationV1Api(new_api_client()), webhook.configuration, made.ca_pem)
    except ApiException as error:  # no point in serving a webhook the API server cannot trust
        raise kopf.PermanentError(
            f"cannot write the webhook's CA into ValidatingWebhookConfiguration {webhook.configuration} "
            f"(HTTP {error.status} {error.reason}): install it with the chart (webhook.enabled) and give "
            "the operator get and patch on it (charts/tunesweep/files/webhook-rules.yaml)"
        ) from None
    return kopf.WebhookServer(
        addr=LISTEN_ADDRESS,
        port=webhook.port,
        certfile=folder / "tls.crt",
        pkeyfile=folder / "tls.key",
        cadata=made.ca_pem,
    )


def set_ca_bundle(api: client.AdmissionregistrationV1Api, name: str, ca_pem: bytes) -> None:
    """Make every webhook of ValidatingWebhookConfiguration `name` trust `ca_pem` (get and patch of
    that one object: the chart's RBAC names it)."""
    current = api.read_validating_webhook_configuration(name)
    bundle = base64.b64encode(ca_pem).decode("ascii")
    patch = [
        {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": bundle}
        for index in range(len(current.webhooks or []))
    ]
    if not patch:
        raise kopf.PermanentError(f"ValidatingWebhookConfiguration {name} has no webhooks to give the CA to")
    api.patch_validating_webhook_configuration(name, patch)
