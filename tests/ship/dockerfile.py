"""The repository's Dockerfile, read as Docker reads it, and its install steps run here without Docker.

`Dockerfile.load()` parses stages (FROM ... AS ...), their instructions (continuation lines joined,
comments dropped) and what each image inherits. `install(target, venv)` runs the RUN lines of the
stages a target is built from that call hack/docker-install.sh, as written, with the ENV those stages
declare; only the places differ (see `HOST_PLACES`). `image_env` is a target's runtime ENV, mapped the
same way, to run its ENTRYPOINT here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tests.support import tools
from tests.support.controlplane import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
INSTALL_SCRIPT = "hack/docker-install.sh"
IMAGE_VENV = "/opt/venv"
IMAGE_TMP = "/tmp"
# RUN lines that set up the system, not the Python environment; any other RUN must go through the script.
SYSTEM_STEPS = ("groupadd ", "apt-get update ", 'pip install --no-cache-dir "uv==${UV_VERSION}"')
# The builder's settings that name places in the image or Docker's build cache, and what they are here:
#   UV_CACHE_DIR   BuildKit's cache mount -> this machine's uv cache (the wheels uv.lock pins, by hash)
#   UV_LINK_MODE   copy (the cache mount is another filesystem) -> uv's default, hard links
#   UV_PYTHON      the base image's python3.11 -> the interpreter this repository's venv was made from
HOST_PLACES = ("UV_CACHE_DIR", "UV_LINK_MODE", "UV_PYTHON")


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


class Dockerfile:
    def __init__(self, text: str) -> None:
        self.global_args: dict[str, str] = {}
        self.stages: dict[str, Stage] = {}
        stage: Stage | None = None
        for instruction in _instructions(text):
            if instruction.keyword == "FROM":
                image, _, name = instruction.args.partition(" AS ")
                image = re.sub(r"\$\{(\w+)\}", lambda m: self.global_args[m.group(1)], image.strip())
                stage = Stage(name.strip() or f"stage-{len(self.stages)}", image)
                self.stages[stage.name] = stage
            elif stage is None:
                assert instruction.keyword == "ARG", f"line {instruction.line}: only ARG may precede FROM"
                name, _, default = instruction.args.partition("=")
                self.global_args[name] = default
            else:
                stage.instructions.append(instruction)

    @classmethod
    def load(cls, path: Path = DOCKERFILE) -> Dockerfile:
        return cls(path.read_text())

    def chain(self, target: str) -> list[Stage]:
        """The stages `target` is built on (FROM), the first one first."""
        stages = [self.stages[target]]
        while stages[0].base in self.stages:
            stages.insert(0, self.stages[stages[0].base])
        return stages

    def closure(self, target: str) -> list[str]:
        """Every stage `target` needs (FROM and COPY --from), each after the stages it needs."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            stage = self.stages[name]
            if stage.base in self.stages:
                visit(stage.base)
            for copy in stage.all("COPY"):
                source = re.match(r"--from=(\S+)", copy.args)
                if source and source.group(1) in self.stages:
                    visit(source.group(1))
            order.append(name)

        visit(target)
        return order

    def last(self, target: str, keyword: str) -> Instruction | None:
        """The instruction in effect for `target` (ENTRYPOINT, CMD, USER, WORKDIR: the last one wins)."""
        found = [i for stage in self.chain(target) for i in stage.all(keyword)]
        return found[-1] if found else None

    def exec_form(self, target: str, keyword: str) -> list[str]:
        instruction = self.last(target, keyword)
        assert instruction is not None, f"{target} has no {keyword}"
        value = json.loads(instruction.args)
        assert isinstance(value, list), f"line {instruction.line}: {keyword} is not in exec (JSON) form"
        return [str(v) for v in value]

    def runs(self, target: str) -> list[tuple[str, dict[str, str]]]:
        """(RUN command without --mount flags, the ENV in effect there) for every stage `target` needs."""
        found = []
        for name in self.closure(target):
            env: dict[str, str] = {}
            for stage in self.chain(name):
                for instruction in stage.instructions:
                    if stage.name == name and instruction.keyword == "RUN":
                        found.append((re.sub(r"^(--\S+\s+)+", "", instruction.args), dict(env)))
                    elif instruction.keyword == "ENV":
                        env |= _env_pairs(instruction.args, env)
        return found

    def env(self, target: str) -> dict[str, str]:
        """The ENV a container of `target` starts with (as declared; `$PATH` stays unexpanded)."""
        env: dict[str, str] = {}
        for stage in self.chain(target):
            for instruction in stage.all("ENV"):
                env |= _env_pairs(instruction.args, env)
        return env


def _instructions(text: str) -> list[Instruction]:
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continued instruction, as Docker does
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            keyword, _, args = " ".join(pending).partition(" ")
            found.append(Instruction(keyword.upper(), args.strip(), start))
            pending = []
    return found


def _env_pairs(args: str, env: dict[str, str]) -> dict[str, str]:
    """`ENV a=1 b=$a`: values may use earlier ones; an unknown `$NAME` (the base image's PATH) is kept."""
    pairs: dict[str, str] = {}
    for token in shlex.split(args):
        name, sep, value = token.partition("=")
        assert sep, f"ENV {args!r}: use the NAME=value form"
        known = env | pairs
        pairs[name] = re.sub(r"\$\{?(\w+)\}?", partial(_expand, known), value)
    return pairs


def _expand(known: dict[str, str], match: re.Match[str]) -> str:
    return known.get(match.group(1), match.group(0))


def here(value: str, venv: Path, tmp: Path) -> str:
    """An image's path setting as it is for an environment at `venv` with `tmp` standing for /tmp."""
    value = re.sub(rf"(?<![\w/]){IMAGE_TMP}(?=/|$|:)", str(tmp), value)
    value = value.replace(IMAGE_VENV, str(venv))
    return os.path.expandvars(value)  # $PATH: this machine's, standing for the base image's


def host_uv_cache() -> str:
    uv = str(tools.uv())
    return subprocess.run([uv, "cache", "dir"], capture_output=True, text=True, check=True).stdout.strip()


def install(
    target: str, venv: Path, tmp: Path, extra: str = "", timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the Dockerfile's install steps for `target` into `venv`; `extra` is appended to each command."""
    dockerfile = Dockerfile.load()
    runs = dockerfile.runs(target)
    others = [command for command, _ in runs if INSTALL_SCRIPT not in command]
    unexpected = [c for c in others if not c.startswith(SYSTEM_STEPS)]
    assert not unexpected, f"RUN lines for {target} outside {INSTALL_SCRIPT}: {unexpected}"
    installs = [(command, env) for command, env in runs if INSTALL_SCRIPT in command]
    assert len(installs) == 1, f"{target}: expected one {INSTALL_SCRIPT} RUN line, got {installs}"
    command, declared = installs[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env |= {k: here(v, venv, tmp) for k, v in declared.items() if k not in HOST_PLACES}
    env |= {"UV_CACHE_DIR": host_uv_cache(), "UV_PYTHON": getattr(sys, "_base_executable", sys.executable)}
    # The image's builder has uv on PATH; here the script runs the pinned one, by exact path.
    env["UV"] = str(tools.uv())
    # WORKDIR /src holds the files the builder COPYs from the repository: here, the repository itself.
    return subprocess.run(
        ["bash", "-c", f"{command} {extra}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def image_env(target: str, venv: Path, tmp: Path) -> dict[str, str]:
    """The environment a `target` container starts with, for an image environment installed at `venv`."""
    # not the host's import path either (a session fixture may put test packages on it)
    host = ("UV_", "VIRTUAL_ENV", "TUNESWEEP_", "PYTHONPATH", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(host)}
    return env | {k: here(v, venv, tmp) for k, v in Dockerfile.load().env(target).items()}
