"""Sweep tests run real Ray Tune on this machine: one local Ray for the whole session, which the
in-process driver tests share (tests that run the CLI start their own, as a user would)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
import ray
from tunesweep_trainer.sweep.ray_runtime import start_local_ray

from tests.sweep.custom_trainers import SAMPLE_PACKAGE


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # The sample custom trainer, importable as its image installs it: Ray's workers inherit PYTHONPATH.
    paths = [str(SAMPLE_PACKAGE), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    sys.path.insert(0, str(SAMPLE_PACKAGE))
    start_local_ray(None)
    yield
    ray.shutdown()


# The evidence tests' S3-compatible server (moto), for the sweep whose evidence lives in a bucket.
from tests.evidence.conftest import _moto_s3, s3_server  # noqa: E402, F401
