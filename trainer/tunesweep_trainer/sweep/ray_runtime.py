"""The Ray the driver runs on: the RayJob's cluster (RAY_ADDRESS set by KubeRay), or else a local
Ray sized to this machine (local mode, and a driver started outside a cluster).

A local Ray's temp folder goes under the run folder when the Unix socket paths Ray puts below it
stay within the kernel's limit (108 bytes with the terminator), else under a short /tmp folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ray
from tunesweep_evidence import layout
from tunesweep_evidence.spec import TuningSweepSpec

from .placement import Placement, PlacementError, decide, node_offers, workers_joined

_SOCKET_PATH_MAX = 107
_SOCKET_SUFFIX = len("/session_2026-01-01_00-00-00_000000_1234567/sockets/plasma_store")
_QUIET_TUNE = {"RAY_AIR_NEW_OUTPUT": "0"}  # with verbose=0: Tune prints no tables of its own
NODE_WAIT_ENV = "TUNESWEEP_NODE_WAIT_SECONDS"
DEFAULT_NODE_WAIT_S = 60.0
_NODE_POLL_S = 1.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RaySession:
    local: bool
    """True when this process started (or was handed) a Ray on this machine (no RAY_ADDRESS)."""


def placement_for(session: RaySession, spec: TuningSweepSpec, *, wait_s: float | None = None) -> Placement:
    """Where the trials go, decided from the alive nodes of the Ray cluster (`placement.decide`),
    and logged: the decision, and a warning when fewer than trials.parallel trials fit at once.

    On a cluster KubeRay may start the driver before every worker Pod's Ray has joined: this waits
    up to `wait_s` (default TUNESWEEP_NODE_WAIT_SECONDS, else 60) for a node that holds one trial
    and for `workers.replicas` worker nodes, then decides on the nodes there are. Raises
    PlacementError when no node holds one trial on a cluster.
    """
    if wait_s is None:
        wait_s = float(os.environ.get(NODE_WAIT_ENV) or DEFAULT_NODE_WAIT_S)
    deadline = time.monotonic() + (0.0 if session.local else wait_s)
    waiting = False
    while True:
        nodes = node_offers(ray.nodes())
        try:
            placement = decide(nodes, spec, local=session.local)
            settled = workers_joined(nodes, spec)
        except PlacementError:
            placement, settled = None, False
        if (placement is not None and settled) or time.monotonic() >= deadline:
            break
        if not waiting:
            waiting = True
            logger.info(
                "waiting up to %.0f s for the Ray cluster's worker nodes to join (%d alive: %s)",
                wait_s,
                len(nodes),
                ", ".join(node.name for node in nodes),
            )
        time.sleep(_NODE_POLL_S)
    if placement is None:
        placement = decide(nodes, spec, local=session.local)  # raises the PlacementError again
    (logger.warning if placement.fitted else logger.info)("placement: %s", placement.reason)
    if placement.short_of_parallel:
        logger.warning(
            "only %s trials can run at once on this Ray cluster, fewer than trials.parallel %s: "
            "the others wait for a free node",
            placement.concurrent_trials,
            placement.parallel,
        )
    return placement


@contextmanager
def ray_session(run_dir: str | None) -> Iterator[RaySession]:
    for name, value in _QUIET_TUNE.items():
        os.environ.setdefault(name, value)
    address = os.environ.get("RAY_ADDRESS")
    if ray.is_initialized():  # started by the caller (e.g. a test fixture): leave it running
        yield RaySession(local=not address)
        return
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        start_local_ray(run_dir)
    try:
        yield RaySession(local=not address)
    finally:
        ray.shutdown()


class _TokenAuthNotice(logging.Filter):
    """Drops the one warning Ray logs on every start of a new local cluster, that it turned token
    auth on by default: a notice for Ray's own users, noise in every run of this tool (which keeps
    token auth on). Setting RAY_AUTH_MODE=token would silence it too, but only before Ray is first
    imported: Ray reads it once, into its C++ config."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_TOKEN_AUTH_NOTICE)


_TOKEN_AUTH_NOTICE = "Token authentication is enabled for this Ray cluster."
_TOKEN_AUTH_FILTER = _TokenAuthNotice()


def start_local_ray(run_dir: str | None) -> None:
    # Its module's logger (addFilter adds one filter once).
    logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(_TOKEN_AUTH_FILTER)
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
        candidate = Path(run_dir).resolve() / layout.LOCAL_RAY_SESSION
        if len(str(candidate)) + _SOCKET_SUFFIX <= _SOCKET_PATH_MAX:
            candidate.mkdir(parents=True, exist_ok=True)
            return str(candidate)
    return tempfile.mkdtemp(prefix="tsw-", dir="/tmp")
