"""The shipping scripts pass shellcheck (kind-e2e.sh cannot run here: it needs a Docker engine)."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import tools
from tests.support.controlplane import REPO_ROOT

SCRIPTS = ("hack/docker-install.sh", "hack/render-manifests.sh", "hack/kind-e2e.sh")


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script: str) -> None:
    path = REPO_ROOT / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    assert "set -euo pipefail" in path.read_text()
    shellcheck = str(tools.in_venv("shellcheck"))
    proc = subprocess.run([shellcheck, "--severity=style", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kind_e2e_installs_the_kuberay_the_tests_model() -> None:
    """kind-e2e.sh takes KubeRay's chart version from ensure-assets.sh (CRDs and stand-in follow it)."""
    script = (REPO_ROOT / "hack" / "kind-e2e.sh").read_text()
    assets = (REPO_ROOT / "hack" / "controlplane" / "ensure-assets.sh").read_text()
    assert "sed -n 's/^KUBERAY_VERSION=v//p'" in script
    assert any(line.startswith("KUBERAY_VERSION=v") for line in assets.splitlines())
