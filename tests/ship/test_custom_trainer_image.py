"""The bring-your-own-trainer image recipe (manifests/samples/custom-trainer): lint, its base image and
user, and its install step run here (no Docker) on a copy of the trainer-cpu image's environment, then
a trial of the example trainer, the sample sweep's entrypoint, through `backend: python` in it."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import EvalSummary, MetricsLine, RunManifest
from tunesweep_evidence.search_plan import rung_steps
from tunesweep_evidence.spec import TuningSweep

from tests.ship.chart import operator_container, plain_env, render
from tests.ship.conftest import ImageEnv
from tests.ship.dockerfile import DOCKERFILE, Dockerfile, Instruction, here, host_uv_cache, image_env
from tests.ship.test_dockerfile import NON_ROOT_UID, snapshot
from tests.support import tools
from tests.support.controlplane import REPO_ROOT

CONTEXT = REPO_ROOT / "manifests" / "samples" / "custom-trainer"
RECIPE = CONTEXT / "Dockerfile"
SAMPLE = REPO_ROOT / "manifests" / "samples" / "sweep-python.yaml"
BASE_TARGET = "trainer-cpu"  # the main Dockerfile's target the recipe's default base image is built from
UV_IMAGE = "ghcr.io/astral-sh/uv"
# One trial of the sample sweep's trainer, run by the image's interpreter: argv = entrypoint, the
# sample's baseConfig (JSON), its ASHA rung steps (JSON), the evidence folder.
TRIAL = """
import json, sys
import my_trainer
from tunesweep_trainer.backend import Program
from tunesweep_trainer.trial import run_trial
entrypoint, config, rungs, out = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
run_trial("python", config, out, rung_steps=rungs, program=Program(entrypoint=entrypoint))
print(my_trainer.__file__)
"""


def recipe_step() -> tuple[Dockerfile, str, Instruction]:
    """The recipe, its one stage's name, and its one RUN (the install)."""
    recipe = Dockerfile.load(RECIPE)
    [name] = recipe.stages
    [run] = recipe.stages[name].all("RUN")
    return recipe, name, run


def mounts(run: Instruction) -> list[dict[str, str]]:
    """`RUN --mount=a=1,b=2 ...`: one dict per mount."""
    return [dict(kv.split("=", 1) for kv in m.split(",")) for m in re.findall(r"--mount=(\S+)", run.args)]


def uv_version() -> str:
    [arg] = [a for a in Dockerfile.load().stages["builder"].all("ARG") if a.args.startswith("UV_VERSION=")]
    return arg.args.partition("=")[2]


def test_hadolint_finds_nothing() -> None:
    hadolint = str(tools.in_venv("hadolint"))
    proc = subprocess.run([hadolint, str(RECIPE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_recipe_builds_on_the_charts_cpu_trainer_image_as_non_root(helm: Path) -> None:
    recipe, name, run = recipe_step()
    chart_default = plain_env(operator_container(render(helm)))["TUNESWEEP_TRAINER_IMAGE_CPU"]
    assert recipe.stages[name].base == chart_default, f"{RECIPE}: FROM is not the chart's CPU trainer image"
    user = recipe.last(name, "USER")
    assert user is not None and user.args.split(":")[0] == NON_ROOT_UID, f"{RECIPE}: last USER {user}"
    [uv] = [m for m in mounts(run) if m.get("from", "").startswith(UV_IMAGE + ":")]
    assert uv["from"] == f"{UV_IMAGE}:{uv_version()}", f"{RECIPE}: uv is not {DOCKERFILE}'s UV_VERSION"
    # uv's cache is a cache mount at the image's own uv cache folder, so none of it lands in the image.
    [cache] = [m for m in mounts(run) if m.get("type") == "cache"]
    assert cache["target"] == Dockerfile.load().env(BASE_TARGET)["XDG_CACHE_HOME"] + "/uv", cache


def install_recipe(venv: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """The recipe's RUN as written, for the image environment at `venv`: its COPY destinations are
    the build context's files, its uv mount the pinned uv, its cache mount this machine's uv cache."""
    recipe, name, run = recipe_step()
    # The image's paths first: this checkout may itself lie below /tmp, as a fresh clone does.
    command = here(re.sub(r"^(--\S+\s+)+", "", run.args), venv, tmp)
    for copy in recipe.stages[name].all("COPY"):
        source, destination = copy.args.split()
        command = command.replace(destination.rstrip("/"), str(CONTEXT / source.rstrip("/")))
    env = image_env(BASE_TARGET, venv, tmp) | {"UV_CACHE_DIR": host_uv_cache()}
    env["PATH"] = f"{tools.uv().parent}:{env['PATH']}"
    return subprocess.run(
        ["bash", "-c", command],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def installed(venv: Path) -> dict[str, str]:
    """{distribution name (normalised): version} of the environment at `venv`."""
    code = "import importlib.metadata as m, json; "
    code += "print(json.dumps({d.name: d.version for d in m.distributions()}))"
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return {name.lower().replace("_", "-"): version for name, version in json.loads(out).items()}


def copy_of(image: ImageEnv, root: Path) -> ImageEnv:
    """`image`'s environment copied (hard links: cheap) under `root`, to install into."""
    (root / "tmp").mkdir()
    subprocess.run(["cp", "-al", str(image.venv), str(root / "venv")], check=True)
    return ImageEnv(image.target, root / "venv", root / "tmp")


def test_the_recipe_installs_the_example_trainer_and_a_trial_of_it_is_scored(
    image_envs: Callable[[str], ImageEnv], tmp_path: Path
) -> None:
    shared = image_envs(BASE_TARGET)
    untouched = snapshot(shared.venv)
    trainer_image = copy_of(shared, tmp_path)
    base = installed(trainer_image.venv)
    proc = install_recipe(trainer_image.venv, trainer_image.tmp)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    after = installed(trainer_image.venv)
    assert after == base | {"my-trainer": "0.1.0"}, "the install changed the image's own packages"
    assert any(trainer_image.venv.rglob("my_trainer/__pycache__/*.pyc")), "bytecode is compiled at build time"

    sample: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    trainer = sample["spec"]["trainer"]
    rungs = rung_steps(TuningSweep.model_validate(sample).spec)
    out = trainer_image.tmp / "trial"
    args = [trainer["entrypoint"], json.dumps(trainer["baseConfig"]), json.dumps(rungs), str(out)]
    trial = trainer_image.run(["python", "-c", TRIAL, *args], timeout=300)
    assert trial.returncode == 0, trial.stderr[-3000:]
    # the entrypoint came from the installed wheel, not from the build context
    assert trial.stdout.splitlines()[-1].startswith(str(trainer_image.venv)), trial.stdout

    run = bucket.read_document(str(out / layout.RUN_MANIFEST), RunManifest)
    assert run.backend == "python" and run.status == "succeeded", run
    assert run.config["optim"] == trainer["baseConfig"]["optim"]
    evaluation = bucket.read_document(str(out / layout.EVAL_SUMMARY), EvalSummary)
    assert evaluation.primary_score == 1.0, evaluation.primary_score  # it learns addition exactly
    lines = bucket.read_jsonl(str(out / layout.METRICS), MetricsLine)
    assert [line.step for line in lines if line.rung_score is not None] == rungs
    assert snapshot(shared.venv) == untouched, (
        "the install changed the session's shared trainer-cpu environment"
    )
