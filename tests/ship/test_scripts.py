"""The shipping scripts pass shellcheck; `make images` builds the images the chart runs (printed, not run:
there is no Docker engine here, nor for kind-e2e.sh)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ship.chart import CHART, operator_container, plain_env, render
from tests.ship.dockerfile import Dockerfile
from tests.ship.test_dockerfile import TARGETS
from tests.support import tools
from tests.support.controlplane import REPO_ROOT

SCRIPTS = (
    "hack/docker-install.sh",
    "hack/render-manifests.sh",
    "hack/kind-e2e.sh",
    "hack/images.sh",
    "hack/dev-cluster.sh",
)


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


# -- make images (hack/images.sh): Docker does not run here, so DRY_RUN=1 prints the commands it would run

IMAGE_SETTINGS = ("REGISTRY", "TAG", "PUSH", "TARGETS", "PLATFORM", "DOCKER", "DRY_RUN")


def make_images(*assignments: str) -> subprocess.CompletedProcess[str]:
    """`make images ASSIGNMENTS...`, with none of the script's settings inherited from this environment."""
    env = {k: v for k, v in os.environ.items() if k not in IMAGE_SETTINGS}
    return subprocess.run(
        ["make", "--no-print-directory", "images", *assignments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def docker_commands(stdout: str, verb: str) -> list[list[str]]:
    commands = [shlex.split(line) for line in stdout.splitlines() if line.startswith("docker ")]
    return [c for c in commands if c[1] == verb]


def built(stdout: str) -> dict[str, str]:
    """Dockerfile target -> the image name it is tagged with, from the printed `docker build` commands."""
    builds = docker_commands(stdout, "build")
    for command in builds:
        assert command[-1] == str(REPO_ROOT), command  # the build context is the repository
    return {c[c.index("--target") + 1]: c[c.index("--tag") + 1] for c in builds}


def chart_images(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Dockerfile target -> the image the rendered chart runs for it (the operator's own image and the
    trainer images it hands to the Ray Pods)."""
    container = operator_container(docs)
    env = plain_env(container)
    assert env["TUNESWEEP_OPERATOR_IMAGE"] == container["image"]
    trainers = {t: env[f"TUNESWEEP_TRAINER_IMAGE_{t.removeprefix('trainer-').upper()}"] for t in TARGETS[1:]}
    return {"operator": container["image"], **trainers}


def test_images_are_the_charts_default_images(helm: Path) -> None:
    """With the registry of the chart's defaults, `make images` builds exactly the images the chart runs."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    registry = values["image"]["repository"].rpartition("/")[0]
    proc = make_images(f"REGISTRY={registry}", "DRY_RUN=1")
    assert proc.returncode == 0, proc.stderr
    assert built(proc.stdout) == chart_images(render(helm))
    assert set(built(proc.stdout)) <= set(Dockerfile.load().stages)
    assert not docker_commands(proc.stdout, "push")
    assert "helm install" not in proc.stdout, "the defaults need no chart values"


def test_images_elsewhere_are_what_the_printed_chart_values_install(helm: Path) -> None:
    proc = make_images("REGISTRY=registry.example.com:5000/team/", "TAG=dev-1", "PUSH=1", "DRY_RUN=1")
    assert proc.returncode == 0, proc.stderr
    images = built(proc.stdout)
    assert images["trainer-cuda"] == "registry.example.com:5000/team/tunesweep-trainer:dev-1-cuda"
    # each image is pushed once built
    lines = proc.stdout.splitlines()
    for image in images.values():
        (build,) = [i for i, line in enumerate(lines) if line.startswith("docker build") and image in line]
        assert shlex.split(lines[build + 1]) == ["docker", "push", image]
    # the install command printed points the chart at these images
    (install,) = [shlex.split(line) for line in lines if line.startswith("helm install")]
    assert install[:3] == ["helm", "install", "tunesweep"]
    flags = [arg for i, arg in enumerate(install) if install[i - 1] == "--set"]
    assert chart_images(render(helm, *(f"--set={flag}" for flag in flags))) == images


def test_images_builds_only_the_targets_asked_for() -> None:
    proc = make_images(
        "REGISTRY=r.example.com", "TARGETS=operator trainer-cpu", "PLATFORM=linux/amd64", "DRY_RUN=1"
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(built(proc.stdout)) == ["operator", "trainer-cpu"]
    for command in docker_commands(proc.stdout, "build"):
        assert command[command.index("--platform") + 1] == "linux/amd64"


def test_make_n_images_shows_the_settings_it_passes() -> None:
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", "images", "REGISTRY=r.example.com/team", "PUSH=1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "REGISTRY='r.example.com/team'" in proc.stdout and "PUSH='1'" in proc.stdout
    assert proc.stdout.rstrip().endswith("hack/images.sh"), proc.stdout


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        ((), "REGISTRY is not set: say where the images go"),
        (
            ("REGISTRY=r.example.com/team/tunesweep-operator:1",),
            "REGISTRY=r.example.com/team/tunesweep-operator:1 is not",
        ),
        (("REGISTRY=r.example.com", "TAG=-dev"), "TAG=-dev is not a Docker tag"),
        (("REGISTRY=r.example.com", "PUSH=yes"), "PUSH=yes must be 1"),
        (
            ("REGISTRY=r.example.com", "TARGETS=trainer-rocm"),
            "TARGETS: unknown target trainer-rocm; choose from operator",
        ),
    ],
)
def test_images_refuses_bad_settings(assignments: tuple[str, ...], message: str) -> None:
    proc = make_images(*assignments, "DRY_RUN=1")
    assert proc.returncode != 0
    assert f"images: {message}" in proc.stderr, proc.stderr
    assert "docker" not in proc.stdout.split("hack/images.sh", 1)[1], proc.stdout
