"""Waiting for the trial processes an interrupted sweep leaves behind (`trial_processes`): each is
found by the Ray node and process id its manifest records, waited for until it has exited, and
named when it outlives the wait."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import ray
from tunesweep_evidence import bucket, layout
from tunesweep_trainer.sweep.trial_processes import process_gone, still_running, wait_for_trial_processes

from tests.evidence.test_trial_checkpoints import manifest_listing

EARLIER_RUN, THIS_RUN = "2026-12-01T08:00:00+00:00", "2026-12-01T09:00:00+00:00"


def test_a_process_is_gone_once_it_exited_even_before_its_parent_collected_it() -> None:
    child = subprocess.Popen(["sleep", "600"])
    try:
        assert not process_gone(child.pid)
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited; left uncollected
        assert Path(f"/proc/{child.pid}").exists()  # a zombie, still in the process table
        assert process_gone(child.pid)
    finally:
        child.kill()
        child.wait()
    assert process_gone(child.pid)


def test_still_running_names_the_processes_alive_at_the_deadline() -> None:
    alive, ended = subprocess.Popen(["sleep", "600"]), subprocess.Popen(["true"])
    ended.wait()
    try:
        assert still_running([alive.pid, ended.pid], time.monotonic()) == [alive.pid]
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.usefixtures("local_ray")
def test_the_driver_waits_for_the_trial_processes_on_its_node_and_skips_nodes_that_are_gone(
    tmp_path: Path,
) -> None:
    root = str(tmp_path)
    here = ray.get_runtime_context().get_node_id()
    running, stopped = subprocess.Popen(["sleep", "600"]), subprocess.Popen(["sleep", "600"])

    def record(trial_id: str, node: str, pid: int, status: str = "running", started: str = THIS_RUN) -> None:
        listed = manifest_listing(
            layout.trial_dir(root, trial_id),
            trial_id=trial_id,
            status=status,
            attempts=[{"started_at": EARLIER_RUN}, {"started_at": started, "after": "interrupted"}],
        )
        host = listed.host.model_copy(update={"ray_node_id": node, "process_id": pid})
        manifest = listed.model_copy(update={"host": host})
        bucket.write_document(layout.join(layout.trial_dir(root, trial_id), layout.RUN_MANIFEST), manifest)

    record("t-running", here, running.pid)
    record("t-stopped", here, stopped.pid, status="early_stopped")  # it wrote its end; may write more
    record("t-elsewhere", "f" * 56, os.getpid())  # a node no longer in the cluster: nothing to wait for
    record("t-done", here, os.getpid(), status="succeeded")  # its process wrote its last word
    record("t-earlier", here, os.getpid(), started=EARLIER_RUN)  # not restarted: its process id is stale
    trial_ids = ["t-running", "t-stopped", "t-elsewhere", "t-done", "t-earlier", "t-never-started"]
    since = datetime.fromisoformat(THIS_RUN)
    try:
        stuck = wait_for_trial_processes(root, trial_ids, started_since=since, timeout_s=0.2)
        assert stuck == ["t-running", "t-stopped"]

        waited: list[list[str]] = []
        waiter = threading.Thread(
            target=lambda: waited.append(wait_for_trial_processes(root, trial_ids, started_since=since))
        )
        waiter.start()
        running.kill()
        stopped.kill()
        waiter.join()
        assert waited == [[]]
    finally:
        for child in (running, stopped):
            child.kill()
            child.wait()
