"""The README's commands, found by how their line starts and run as written against a test's control
plane (its pinned kubectl and helm first on PATH, its kubeconfig, a HOME of the test's own)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.controlplane import REPO_ROOT, ControlPlane

README = REPO_ROOT / "README.md"


def readme_command(start: str) -> str:
    """The one README line that starts with `start`."""
    commands = [line for line in README.read_text().splitlines() if line.startswith(start)]
    assert len(commands) == 1, f"README.md should name one `{start} ...` command, found {commands}"
    return commands[0]


def run_as_written(command: str, control_plane: ControlPlane, home: Path, **env: str) -> None:
    """Run `command` from the repository root with bash's strict mode; `env` adds variables."""
    environment = {
        "PATH": f"{control_plane.assets}:{os.environ['PATH']}",
        "KUBECONFIG": str(control_plane.admin_kubeconfig),
        "HOME": str(home),
        **env,
    }
    subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=REPO_ROOT, env=environment, check=True)
