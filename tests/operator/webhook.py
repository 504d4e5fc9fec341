"""The chart's admission webhook with the operator running here as a process: pointing its
configuration at the operator, waiting until the API server reaches it, and what it must answer."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import yaml
from tunesweep_evidence.sweep_manifest import validate_documents

from tests.operator.cluster import ASYNC_TIMEOUT, wait_until
from tests.spec.cases import BAD

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
LOCAL_HOST = "127.0.0.1"
LOCAL_ENV = {"TUNESWEEP_WEBHOOK_HOSTS": LOCAL_HOST}
"""The operator's env for an API server that dials it at LOCAL_HOST: its certificate names that address."""


def call_here(configuration: dict[str, Any], port: int) -> None:
    """Point the chart's ValidatingWebhookConfiguration at https://LOCAL_HOST:`port` (no Service routes
    to a process on this machine), keeping each webhook's path."""
    for hook in configuration["webhooks"]:
        assert "caBundle" not in hook["clientConfig"]  # the operator brings its CA
        hook["clientConfig"] = {
            "url": f"https://{LOCAL_HOST}:{port}{hook['clientConfig']['service']['path']}"
        }


def as_sent(value: Any) -> Any:
    """`value` as the API server sends it on: its JSON writes a whole float as an integer (2.0 as 2)."""
    if isinstance(value, dict):
        return {key: as_sent(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_sent(item) for item in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def validate_says(manifest: dict[str, Any]) -> str:
    """`tunesweep validate`'s problems with the manifest as the webhook gets it, as one line (the
    webhook joins them with "; ")."""
    problems = validate_documents(yaml.safe_dump(as_sent(manifest)))
    assert problems, "validate passes this manifest"
    return "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in problems)


def serving(kubectl: Kubectl, namespace: str) -> None:
    """Until the API server reaches the webhook (the operator wrote its CA and listens): a sweep in
    `namespace` that only the webhook can refuse is refused with validate's words."""
    probe = next(case for case in BAD if case.id == "unknown-path").manifest()
    expected = validate_says(probe)
    seen = [""]

    def refused() -> bool:
        proc = kubectl(
            "create",
            "--dry-run=server",
            "-f",
            "-",
            namespace=namespace,
            input=yaml.safe_dump(probe),
            check=False,
        )
        seen[0] = proc.stderr
        return expected in proc.stderr

    wait_until(
        refused, ASYNC_TIMEOUT, lambda: f"the webhook to refuse {probe['metadata']['name']}; last: {seen[0]}"
    )
