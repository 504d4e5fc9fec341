"""charts/tunesweep rendered by the pinned helm, and reads of what it rendered."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.controlplane import REPO_ROOT

CHART = REPO_ROOT / "charts" / "tunesweep"
RULES = CHART / "files" / "operator-rules.yaml"
KIND_VALUES = REPO_ROOT / "manifests" / "kind" / "values.yaml"
KIND_CLUSTER = REPO_ROOT / "manifests" / "kind" / "cluster.yaml"
RELEASE = "tunesweep"
NAMESPACE = "tunesweep-system"


def helm_template(
    helm: Path, *args: str, release: str = RELEASE, namespace: str = NAMESPACE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), "template", release, str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def render(
    helm: Path, *args: str, release: str = RELEASE, namespace: str = NAMESPACE
) -> list[dict[str, Any]]:
    proc = helm_template(helm, *args, release=release, namespace=namespace)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(doc["kind"] for doc in docs)


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [doc for doc in docs if doc["kind"] == kind]
    return found


def is_webhook(doc: dict[str, Any]) -> bool:
    """One of the admission webhook's objects (on by default): its configuration, and the Service, RBAC
    and certificate named <fullname>-webhook (templates/_webhook.tpl)."""
    return doc["kind"] == "ValidatingWebhookConfiguration" or doc["metadata"]["name"].endswith("-webhook")


def without_webhook(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in docs if not is_webhook(doc)]


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [container] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def plain_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's `value` env (the chart's OperatorSettings); `valueFrom` entries are left out."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def notes(helm: Path, tmp_path: Path, *args: str) -> str:
    """NOTES.txt as `helm install` prints it (`helm template` skips it and parses templates as YAML):
    rendered from a copy of the chart where it is the value of a YAML document."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    text = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    wrapper = '{{- define "notes" }}' + text + '{{- end }}\nnotes: {{ include "notes" . | toJson }}\n'
    (chart / "templates" / "notes.yaml").write_text(wrapper)
    proc = subprocess.run(
        [str(helm), "template", "tunesweep", str(chart), "--show-only", "templates/notes.yaml", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return str(yaml.safe_load(proc.stdout)["notes"])
