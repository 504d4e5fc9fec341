"""charts/tunesweep rendered by the pinned helm, and reads of what it rendered."""

from __future__ import annotations

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


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [container] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def plain_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's `value` env (the chart's OperatorSettings); `valueFrom` entries are left out."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
