"""The shipping scripts pass shellcheck (kind-e2e.sh cannot run here: it needs a Docker engine)."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

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


def test_kuberay_is_pinned_once() -> None:
    """hack/tools/kuberay/go.mod pins KubeRay: the tests build that operator and its CRDs, kind-e2e.sh
    installs that chart version, and the chart documents it as its tested prerequisite."""
    gomod = (REPO_ROOT / "hack" / "tools" / "kuberay" / "go.mod").read_text()
    pin = re.search(r"^require github\.com/ray-project/kuberay/ray-operator v(\S+)$", gomod, re.M)
    assert pin, "hack/tools/kuberay/go.mod requires no github.com/ray-project/kuberay/ray-operator"
    script = (REPO_ROOT / "hack" / "kind-e2e.sh").read_text()
    assert "hack/tools/kuberay/go.mod" in script and '--version "$kuberay_version"' in script
    chart = yaml.safe_load((REPO_ROOT / "charts" / "tunesweep" / "Chart.yaml").read_text())
    assert chart["annotations"]["tunesweep.dev/kuberay-version"] == pin.group(1)
    assert f"--version {pin.group(1)}" in (REPO_ROOT / "README.md").read_text()
