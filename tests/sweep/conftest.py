"""Sweep tests run real Ray Tune on this machine: one local Ray for the whole session, which the
in-process driver tests share (tests that run the CLI start their own, as a user would)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import ray
from tunesweep_trainer.sweep.ray_runtime import start_local_ray


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    start_local_ray(None)
    yield
    ray.shutdown()


# The evidence tests' S3-compatible server (moto), for the sweep whose evidence lives in a bucket.
from tests.evidence.conftest import _moto_s3_endpoint, s3_server  # noqa: E402, F401
