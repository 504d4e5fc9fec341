"""Fixtures of the shipping tests: the images' Python environments (built as the Dockerfile builds them)
and the pinned helm."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ship.dockerfile import image_env, install
from tests.support.controlplane import ensure_assets


@dataclass(frozen=True)
class ImageEnv:
    """One image's /opt/venv, installed here by the Dockerfile's steps; `tmp` stands for its /tmp."""

    target: str
    venv: Path
    tmp: Path

    def env(self) -> dict[str, str]:
        return image_env(self.target, self.venv, self.tmp)

    def command(self, argv: list[str]) -> list[str]:
        """`argv` as the container runs it: its program found on the image's PATH."""
        program = shutil.which(argv[0], path=self.env()["PATH"])
        assert program, f"{argv[0]} is not on the {self.target} image's PATH {self.env()['PATH']}"
        return [program, *argv[1:]]

    def run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv),
            env=self.env(),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def distributions(self) -> set[str]:
        """Names (normalised) of the distributions installed in the environment."""
        code = "import importlib.metadata as m, json; print(json.dumps([d.name for d in m.distributions()]))"
        out = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
        ).stdout
        return {name.lower().replace("_", "-") for name in json.loads(out)}


@pytest.fixture(scope="session")
def image_envs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ImageEnv]:
    """`image_envs("operator")`: that target's environment, installed once per session."""
    built: dict[str, ImageEnv] = {}

    def get(target: str) -> ImageEnv:
        if target not in built:
            root = tmp_path_factory.mktemp(target)
            (root / "tmp").mkdir()
            proc = install(target, root / "venv", root / "tmp")
            assert proc.returncode == 0, f"installing {target} failed:\n{proc.stderr}\n{proc.stdout}"
            built[target] = ImageEnv(target, root / "venv", root / "tmp")
        return built[target]

    return get


@pytest.fixture(scope="session")
def helm() -> Path:
    """The pinned helm that hack/controlplane/ensure-assets.sh builds (render-manifests.sh uses it too)."""
    return ensure_assets() / "helm"
