"""`trials.maxRestarts`: a trial whose process is lost is started again and goes on from its newest
checkpoint, counted as a restart and not as a failure; an error of the trainer itself is not retried.

The process is really lost: the test SIGKILLs the Ray worker process the trial runs in (its
run_manifest.json names it), as the kernel's OOM killer or a lost node would end it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import MetricsLine, RunManifest
from tunesweep_evidence.verify import verify
from tunesweep_trainer.sweep.driver import EXIT_SUCCEEDED, drive

from tests.sweep.sweeps import frozen_plan, manifests, sweep_manifest, sweep_summary
from tests.sweep.test_restore import kill, start_driver

pytestmark = pytest.mark.usefixtures("local_ray")

PACED = "tests.sweep.custom_trainers.paced:run"
LONG_MOCK = {"training": {"max_steps": 3000, "report_every_steps": 10}}
"""300 reports, each saving a checkpoint: seconds of running, so the kill lands mid-trial."""


def checkpointed(out: Path) -> RunManifest | None:
    """The running trial's manifest once it has saved a checkpoint."""
    if not (out / "trials").exists():
        return None
    running = [m for m in manifests(out, so_far=True).values() if m.status == "running"]
    return running[0] if running and running[0].checkpoints and running[0].host.process_id else None


def test_a_trial_whose_process_is_killed_resumes_from_its_checkpoint_and_is_no_failure(
    tmp_path: Path,
) -> None:
    manifest = sweep_manifest(
        trainer={"backend": "mock", "baseConfig": LONG_MOCK},
        trials={"count": 1, "parallel": 1, "maxFailed": 0, "maxRestarts": 1, "timeoutSeconds": 300},
    )
    frozen_plan(tmp_path, manifest)
    driver = start_driver(str(tmp_path / layout.PLAN))
    try:
        deadline = time.monotonic() + 180
        while (victim := checkpointed(tmp_path)) is None:
            assert driver.poll() is None and time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.1)
        assert victim.host.process_id is not None
        saved = victim.checkpoints[-1].step
        os.kill(victim.host.process_id, signal.SIGKILL)
        output, _ = driver.communicate(timeout=300)
    finally:
        kill(driver)
    assert driver.returncode == EXIT_SUCCEEDED, output

    (record,) = sweep_summary(tmp_path).trials
    assert record.status == "succeeded" and record.restarts == 1 and record.error is None
    (resumed,) = manifests(tmp_path).values()
    assert resumed.trial_id == victim.trial_id
    first, second = resumed.attempts
    assert first.resumed_from_step == 0 and second.resumed_from_step >= saved
    assert resumed.host.process_id != victim.host.process_id
    metrics_uri = layout.join(layout.trial_dir(str(tmp_path), record.trial_id), layout.METRICS)
    # every report once, in order: the first attempt's up to its checkpoint, the second's after it
    assert [line.step for line in bucket.read_jsonl(metrics_uri, MetricsLine)] == list(range(10, 3001, 10))
    report = verify(str(tmp_path))
    assert report.ok, report.problems


def test_an_error_of_the_trainer_itself_fails_the_trial_without_a_restart(tmp_path: Path) -> None:
    base = {
        "training": {"max_steps": 6, "report_every_steps": 2, "seed": 0},
        "pace": {"step_seconds": 0.01, "skill": 0.5, "fail_at_step": 4},
        "data": {"eval_size": 10, "test_size": 5, "rung_size": 5},
    }
    manifest = sweep_manifest(
        trainer={"backend": "python", "entrypoint": PACED, "baseConfig": base},
        algorithm={"name": "grid", "seed": 0},
        searchSpace={"pace.fail_at_step": {"grid": [4, 0]}},  # 0: never
        trials={"count": 1, "parallel": 1, "maxFailed": 1, "maxRestarts": 3, "timeoutSeconds": 120},
    )
    result = drive(frozen_plan(tmp_path, manifest))
    assert result.exit_code == EXIT_SUCCEEDED  # the other trial promoted, one failure tolerated
    by_status = {r.status: r for r in sweep_summary(tmp_path).trials}
    record = by_status["failed"]
    assert record.restarts == 0 and "the trainer broke at step 4" in (record.error or "")
    failed = manifests(tmp_path)[record.trial_id]
    # started once: a restart would have added an attempt (and trained steps 1..3 again)
    assert len(failed.attempts) == 1 and failed.status == "failed"
    assert by_status["succeeded"].restarts == 0
    # Tune queued it once more (it retries every error alike), and that start ended at once on
    # reading its failed evidence; the two other restarts maxRestarts allows were taken away.
    (errors,) = (tmp_path / layout.RAY_STATE).rglob(f"{record.trial_id}/error.txt")
    assert errors.read_text().count("Failure #") == 2
