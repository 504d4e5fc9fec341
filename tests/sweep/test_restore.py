"""A driver killed mid-sweep and started again resumes the same Ray Tune experiment: finished
trials are not run again and the sweep completes. As in a RayJob retry, the Ray cluster (the
session's local Ray) outlives the driver processes, which attach to it through RAY_ADDRESS."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
from tunesweep_evidence import layout, trial_checkpoints
from tunesweep_evidence.verify import verify

from tests.sweep.sweeps import frozen_plan, manifests, sweep_manifest, sweep_summary

TUNESWEEP = str(Path(sys.executable).with_name("tunesweep"))
COUNT = 4


def driver_env() -> dict[str, str]:
    return os.environ | {"RAY_ADDRESS": ray.get_runtime_context().gcs_address}


def start_driver(plan_uri: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [TUNESWEEP, "drive", "--plan", plan_uri],
        env=driver_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so that nothing it started outlives the test
    )


def kill(driver: subprocess.Popen[str]) -> None:
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(driver.pid, signal.SIGKILL)


def finished(out: Path) -> dict[str, tuple[str, str]]:
    return {
        tid: (m.run_id, m.started_at)
        for tid, m in manifests(out, so_far=True).items()
        if m.status == "succeeded"
    }


def kill_after_a_trial_finished(plan_uri: str, out: Path) -> dict[str, tuple[str, str]]:
    """Start the driver, SIGKILL it once a trial finished; the trials finished by then."""
    driver = start_driver(plan_uri)
    try:
        deadline = time.monotonic() + 180
        while not (out / "trials").exists() or not finished(out):
            assert driver.poll() is None, driver.stdout.read() if driver.stdout else ""
            assert time.monotonic() < deadline, "no trial finished in time"
            time.sleep(0.2)
        return finished(out)
    finally:
        kill(driver)


@pytest.mark.usefixtures("local_ray")
def test_a_killed_driver_resumes_without_rerunning_finished_trials(tmp_path: Path) -> None:
    # Each mock trial reports 300 times, so it lasts a few seconds: the kill lands mid-sweep.
    manifest = sweep_manifest(
        trainer={
            "backend": "mock",
            "baseConfig": {"training": {"max_steps": 3000, "report_every_steps": 10}},
        },
        trials={"count": COUNT, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 120},
    )
    frozen_plan(tmp_path, manifest)
    plan_uri = str(tmp_path / layout.PLAN)

    before = kill_after_a_trial_finished(plan_uri, tmp_path)
    assert 1 <= len(before) < COUNT, "the kill should land after one trial and before the last"
    running = [
        tid for tid, manifest in manifests(tmp_path, so_far=True).items() if manifest.status == "running"
    ]
    newest = {tid: trial_checkpoints.latest(layout.trial_dir(str(tmp_path), tid)) for tid in running}
    cut_short = {trial_id: record.step if record else 0 for trial_id, record in newest.items()}
    progress = sweep_summary(tmp_path)
    assert progress.status == "running"  # the progress callback had been following the sweep
    assert {r.trial_id for r in progress.trials if r.status == "succeeded"} <= set(before)

    second = subprocess.run(
        [TUNESWEEP, "drive", "--plan", plan_uri], capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr

    after = finished(tmp_path)
    assert len(after) == COUNT
    for trial_id, identity in before.items():
        assert after[trial_id] == identity, f"trial {trial_id} ran again"
    # a trial running when the driver was killed went on from its newest checkpoint
    for trial_id, step in cut_short.items():
        assert [a.resumed_from_step for a in manifests(tmp_path)[trial_id].attempts] == [0, step]
    summary = sweep_summary(tmp_path)
    assert summary.status == "succeeded" and len(summary.trials) == COUNT
    report = verify(str(tmp_path))
    assert report.ok, report.problems
