"""The trial processes a sweep's end leaves behind, and waiting for them to end.

Tune ends the trials it stops (an early stop, the sweep ending at its budget, Ctrl-C) by asking
them to stop and then killing what is left with `ray.kill`, which returns before the process has
ended: after `fit` returned, a trial process may still write its own end (`early_stopped`) or a
checkpoint's manifest. The driver waits for those processes to be gone before it settles their
trials (as `interrupted`, or `early_stopped` where they wrote no end), so that its word is the last.
A process is found by the Ray node and process id its manifest records; one on another node is
watched by a task placed on that node.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import RunManifest

logger = logging.getLogger(__name__)

_POLL_S = 0.05
_WAIT_S = 60.0
"""Tune has already killed these processes: they are gone in well under a second on a quiet node."""
_NODE_GONE = (
    ray.exceptions.NodeDiedError,
    ray.exceptions.TaskUnschedulableError,
    ray.exceptions.WorkerCrashedError,
)
_TASK_START_S = 60.0
"""Beyond the wait itself, for the watcher task's worker process to start on its node."""


def wait_for_trial_processes(
    root: str, trial_ids: list[str], *, started_since: datetime, timeout_s: float = _WAIT_S
) -> list[str]:
    """Wait until the processes these trials started since `started_since` (this run of the sweep)
    have ended, where their manifests record no end; the trial ids of those still running at the
    deadline (logged: their last writes may race the driver's)."""
    by_node = _processes_by_node(root, trial_ids, started_since)
    if not by_node:
        return []
    count = sum(len(pids) for pids in by_node.values())
    logger.info("waiting for the stopped trials' processes to end (%d, on %d Ray nodes)", count, len(by_node))
    deadline = time.monotonic() + timeout_s
    here = ray.get_runtime_context().get_node_id()
    watchers = {
        node: _wait_there.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
        ).remote(sorted(pids), timeout_s)
        for node, pids in by_node.items()
        if node != here
    }
    alive = {here: still_running(sorted(by_node.get(here, {})), deadline)}
    for node, watcher in watchers.items():
        try:
            alive[node] = ray.get(watcher, timeout=max(0.0, deadline - time.monotonic()) + _TASK_START_S)
        except ray.exceptions.GetTimeoutError:
            alive[node] = list(by_node[node])
        except _NODE_GONE:  # and the process with it
            continue
    left = sorted(by_node[node][pid] for node, pids in alive.items() for pid in pids)
    if left:
        logger.warning("trial processes still running %.0f s after the sweep stopped: %s", timeout_s, left)
    return left


def _processes_by_node(root: str, trial_ids: list[str], since: datetime) -> dict[str, dict[int, str]]:
    """Ray node -> process id -> trial, for the trials whose latest start (since `since`) has not
    recorded its end and whose node is still in the cluster (a node that is gone took its processes
    with it). An earlier run's process id may have been reused since by another process."""
    by_node: dict[str, dict[int, str]] = defaultdict(dict)
    for trial_id in trial_ids:
        manifest = _manifest(root, trial_id, since)
        host = manifest.host if manifest else None
        if host is not None and host.ray_node_id and host.process_id is not None:
            by_node[host.ray_node_id][host.process_id] = trial_id
    alive = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    return {node: pids for node, pids in by_node.items() if node in alive}


def _manifest(root: str, trial_id: str, since: datetime) -> RunManifest | None:
    uri = layout.join(layout.trial_dir(root, trial_id), layout.RUN_MANIFEST)
    if not bucket.exists(uri):
        return None
    manifest = bucket.read_document(uri, RunManifest)
    latest_start = manifest.attempts[-1].started_at if manifest.attempts else manifest.started_at
    unended = manifest.status in ("running", "early_stopped")
    return manifest if unended and datetime.fromisoformat(latest_start) >= since else None


@ray.remote(num_cpus=0)
def _wait_there(pids: list[int], timeout_s: float) -> list[int]:
    return still_running(pids, time.monotonic() + timeout_s)


def still_running(pids: list[int], deadline: float) -> list[int]:
    """Poll until the processes are gone or the deadline passes; those still running then."""
    left = [pid for pid in pids if not process_gone(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        left = [pid for pid in left if not process_gone(pid)]
    return left


def process_gone(pid: int) -> bool:
    """Ended: no such process, or a zombie (it has exited; its parent, Ray's raylet, has not yet
    collected it)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # PermissionError: another user's, a reused id
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:  # it ended since; or there is no /proc here, and kill(0) said alive
        return Path("/proc/self").exists()
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
