"""Trainer tests share one JAX compilation cache per session (as the trials of a sweep do), in a
temporary folder rather than the user's ~/.cache."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tunesweep_trainer.compile_cache import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def compile_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = str(tmp_path_factory.mktemp("jax-cache"))
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = folder
    yield folder
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
