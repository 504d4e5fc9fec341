"""The Ray the driver runs on: the RayJob's cluster (RAY_ADDRESS set by KubeRay), or else a local
Ray sized to this machine (local mode, and a driver started outside a cluster).

A local Ray's temp folder goes under the run folder when the Unix socket paths Ray puts below it
stay within the kernel's limit (108 bytes with the terminator), else under a short /tmp folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ray
from tunesweep_evidence.spec import Accelerator, TuningSweepSpec

from .tuner import Placement

_SOCKET_PATH_MAX = 107
_SOCKET_SUFFIX = len("/session_2026-01-01_00-00-00_000000_1234567/sockets/plasma_store")
_QUIET_TUNE = {"RAY_AIR_NEW_OUTPUT": "0"}  # with verbose=0: Tune prints no tables of its own


@dataclass(frozen=True)
class RaySession:
    local: bool
    """True when this process started (or was handed) a Ray on this machine."""
    resources: dict[str, float]


def placement_for(session: RaySession, spec: TuningSweepSpec) -> Placement:
    """A local Ray fits `parallel` trials on this machine; a cluster's are sized by the spec."""
    if not session.local:
        return Placement()
    per_trial = spec.resources.per_trial
    wanted = {Accelerator.nvidia_gpu: "GPU", Accelerator.google_tpu: "TPU"}.get(per_trial.accelerator)
    has_accelerator = wanted is not None and session.resources.get(wanted, 0) >= per_trial.count
    return Placement(
        max_cpu_per_trial=session.resources.get("CPU", 1.0) / max(1, spec.trials.parallel),
        accelerators=has_accelerator,
    )


@contextmanager
def ray_session(run_dir: str | None) -> Iterator[RaySession]:
    for name, value in _QUIET_TUNE.items():
        os.environ.setdefault(name, value)
    address = os.environ.get("RAY_ADDRESS")
    if ray.is_initialized():  # started by the caller (e.g. a test fixture): leave it running
        yield RaySession(local=not address, resources=ray.cluster_resources())
        return
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        start_local_ray(run_dir)
    try:
        yield RaySession(local=not address, resources=ray.cluster_resources())
    finally:
        ray.shutdown()


def start_local_ray(run_dir: str | None) -> None:
    ray.init(
        address="local",  # never attach to someone else's Ray on this machine
        num_cpus=os.cpu_count() or 1,
        include_dashboard=False,
        log_to_driver=False,  # trial output stays in Ray's worker logs under the temp folder
        logging_level=logging.WARNING,
        _temp_dir=temp_dir(run_dir),
    )


def temp_dir(run_dir: str | None) -> str:
    if run_dir is not None:
        candidate = Path(run_dir).resolve() / ".ray"
        if len(str(candidate)) + _SOCKET_SUFFIX <= _SOCKET_PATH_MAX:
            candidate.mkdir(parents=True, exist_ok=True)
            return str(candidate)
    return tempfile.mkdtemp(prefix="tsw-", dir="/tmp")
