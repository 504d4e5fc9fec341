"""The Dockerfile: lint, its images' contract, and its install steps and entrypoints run here (no Docker)."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ship.conftest import ImageEnv
from tests.ship.dockerfile import DOCKERFILE, IMAGE_TMP, Dockerfile, install
from tests.support import tools
from tests.support.controlplane import REPO_ROOT

TARGETS = ("operator", "trainer-cpu", "trainer-cuda", "trainer-tpu")
TRAINERS = TARGETS[1:]
NON_ROOT_UID = "65532"
# What each image must not carry (the design: the operator needs no JAX, the trainer no kopf).
NOT_IN_OPERATOR = {"jax", "jaxlib", "ray", "flax", "optax", "google-tunix", "tunesweep-trainer"}
NOT_IN_TRAINER = {"kopf", "tunesweep-operator"}


def test_hadolint_finds_nothing() -> None:
    hadolint = str(tools.in_venv("hadolint"))
    proc = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_target_runs_as_non_root_with_an_exec_entrypoint() -> None:
    dockerfile = Dockerfile.load()
    assert set(TARGETS) <= set(dockerfile.stages), sorted(dockerfile.stages)
    assert list(dockerfile.stages)[-1] == "operator", "`docker build .` should build the small operator image"
    for target in TARGETS:
        user = dockerfile.last(target, "USER")
        assert user is not None and user.args.split(":")[0] == NON_ROOT_UID, f"{target}: USER {user}"
        assert dockerfile.exec_form(target, "ENTRYPOINT")[0] == "tunesweep"
    assert dockerfile.exec_form("operator", "ENTRYPOINT") == ["tunesweep", "operator"]


def test_base_images_are_pinned_by_tag() -> None:
    dockerfile = Dockerfile.load()
    external = {s.base for s in dockerfile.stages.values() if s.base not in dockerfile.stages}
    for image in external:
        tag = image.split("@")[0].partition(":")[2]
        assert tag and tag != "latest", f"FROM {image}: pin a tag"
    python = dockerfile.global_args["PYTHON_IMAGE"]
    # The images' interpreter is the one the lock and the tests use.
    assert python.startswith(f"python:{sys.version_info.major}.{sys.version_info.minor}."), python


def test_uv_version_is_the_makefiles() -> None:
    makefile = re.search(r"^UV_VERSION\s*:?=\s*(\S+)", (REPO_ROOT / "Makefile").read_text(), re.M)
    dockerfile = re.search(r"^ARG UV_VERSION=(\S+)", DOCKERFILE.read_text(), re.M)
    assert makefile and dockerfile and makefile.group(1) == dockerfile.group(1)
    uv = tools.uv()
    here = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True).stdout
    assert here.split()[1] == dockerfile.group(1), f"UV={uv} is {here}; the images use {dockerfile.group(1)}"


@pytest.mark.parametrize("target", TARGETS)
def test_images_write_nothing_outside_tmp(target: str) -> None:
    """readOnlyRootFilesystem: HOME, caches and the JAX compile cache are under /tmp; no bytecode writes."""
    env = Dockerfile.load().env(target)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    places = {
        k: v for k, v in env.items() if k in {"HOME", "TUNESWEEP_COMPILE_CACHE"} or k.startswith("XDG_")
    }
    assert "HOME" in places, env
    assert all(v == IMAGE_TMP or v.startswith(IMAGE_TMP + "/") for v in places.values()), places
    if target in TRAINERS:
        assert "TUNESWEEP_COMPILE_CACHE" in places
    assert Dockerfile.load().last(target, "WORKDIR").args == IMAGE_TMP  # type: ignore[union-attr]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics for the patterns used: the last matching line wins, `!` re-includes."""
    ignored = False
    for pattern in patterns:
        exclude = not pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", "")) for p in prefixes
        ):
            ignored = exclude
    return ignored


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    sources = [
        token
        for stage in Dockerfile.load().stages.values()
        for copy in stage.all("COPY")
        if "--from=" not in copy.args
        for token in copy.args.split()[:-1]
    ]
    assert sources, "no COPY from the build context"
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert not dockerignored(source.rstrip("/") + "/x.py" if source.endswith("/") else source, patterns)
    for secret_or_bulk in (".venv/bin/python", "tests/conftest.py", "runs/x", ".git/config"):
        assert dockerignored(secret_or_bulk, patterns), secret_or_bulk


def snapshot(folder: Path) -> set[tuple[str, int]]:
    return {(str(p), p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_operator_image(image_envs: Callable[[str], ImageEnv]) -> None:
    image = image_envs("operator")
    installed = image.distributions()
    assert {"tunesweep-operator", "tunesweep-evidence", "kopf", "kubernetes"} <= installed
    assert not installed & NOT_IN_OPERATOR, installed & NOT_IN_OPERATOR
    before = snapshot(image.venv)
    entrypoint = Dockerfile.load().exec_form("operator", "ENTRYPOINT")
    proc = image.run([*entrypoint, "--help"])
    assert proc.returncode == 0, proc.stderr
    assert "--all-namespaces" in proc.stdout and "--liveness-port" in proc.stdout
    # installed as wheels (--no-editable): the image needs no source tree
    where = image.run(["python", "-c", "import tunesweep_operator; print(tunesweep_operator.__file__)"])
    assert where.stdout.startswith(str(image.venv)), where.stdout + where.stderr
    assert any(image.venv.rglob("tunesweep_operator/__pycache__/*.pyc")), "bytecode is compiled at build time"
    assert snapshot(image.venv) == before, "running the operator wrote into the image's environment"


def test_trainer_cpu_image(image_envs: Callable[[str], ImageEnv]) -> None:
    image = image_envs("trainer-cpu")
    installed = image.distributions()
    assert {
        "tunesweep-trainer",
        "tunesweep-evidence",
        "jax",
        "flax",
        "optax",
        "ray",
        "google-tunix",
    } <= installed
    assert not installed & NOT_IN_TRAINER, installed & NOT_IN_TRAINER
    dockerfile = Dockerfile.load()
    before = snapshot(image.venv)
    entrypoint, cmd = (
        dockerfile.exec_form("trainer-cpu", "ENTRYPOINT"),
        dockerfile.exec_form("trainer-cpu", "CMD"),
    )
    default = image.run([*entrypoint, *cmd])
    assert default.returncode == 0 and "drive" in default.stdout, default.stderr
    drive = image.run([*entrypoint, "drive", "--help"])  # KubeRay's RayJob entrypoint
    assert drive.returncode == 0 and "--plan" in drive.stdout, drive.stderr
    assert "operator" not in image.run([*entrypoint, "--help"]).stdout.split("positional arguments")[1]
    ray = image.run(["ray", "--version"])  # KubeRay starts the Ray head and workers with `ray start`
    assert ray.returncode == 0 and "ray, version" in ray.stdout, ray.stderr
    assert image.command(["ray"])[0].startswith(str(image.venv))
    # KubeRay submits the RayJob to the head's dashboard and probes the dashboard agent: ray[default].
    dashboard = image.run(["python", "-c", "import ray.dashboard.optional_utils"])
    assert dashboard.returncode == 0, (
        "the Ray dashboard cannot start in the trainer image; tunesweep-trainer must depend on "
        f"ray[default,tune]:\n{dashboard.stderr[-500:]}"
    )
    assert snapshot(image.venv) == before, "running the trainer wrote into the image's environment"


@pytest.mark.parametrize(
    ("target", "accelerator_package"), [("trainer-cuda", "jax-cuda12-plugin"), ("trainer-tpu", "libtpu")]
)
def test_accelerator_images_resolve_from_the_lock(
    target: str, accelerator_package: str, tmp_path: Path
) -> None:
    """The CUDA and TPU environments (GBs of wheels) are resolved from uv.lock here, not installed."""
    proc = install(target, tmp_path / "venv", tmp_path, extra="--dry-run")
    assert proc.returncode == 0, proc.stderr
    would = set(re.findall(r"^ \+ ([\w.-]+)(?:==| @ )", proc.stderr + proc.stdout, re.M))
    assert {"jax", "ray", "tunesweep-trainer", accelerator_package} <= would, sorted(would)
    assert not would & NOT_IN_TRAINER
    assert not (tmp_path / "venv").exists()
