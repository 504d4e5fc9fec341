"""Local mode: `tunesweep run SWEEP.yaml` end to end, its plan handling, and its errors."""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from tunesweep_evidence import bucket, layout, trial_checkpoints
from tunesweep_evidence.documents import MetricsLine
from tunesweep_evidence.spec import TuningSweep
from tunesweep_evidence.verify import verify
from tunesweep_trainer.commands import run as run_command
from tunesweep_trainer.commands.run import PROGRESS_INTERVAL_S
from tunesweep_trainer.sweep.driver import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_SUCCEEDED
from tunesweep_trainer.sweep.local import (
    EvidenceDestination,
    SweepFileError,
    evidence_destination,
    plan_for,
    run_local,
)

from tests.sweep.sweeps import UNLOADABLE_MODEL, manifests, sweep_manifest, sweep_summary

TUNESWEEP = str(Path(sys.executable).with_name("tunesweep"))
SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "sweep-mock.yaml"


def test_the_mock_sample_runs_locally_and_its_evidence_verifies(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run(
        [TUNESWEEP, "run", str(SAMPLE), "--out", str(out)], capture_output=True, text=True, timeout=400
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = sweep_summary(out)
    assert summary.status == "succeeded" and summary.best_trial is not None
    assert len(summary.trials) == 8
    assert f"evidence: {out} (--out)" in run.stdout
    assert "Token authentication" not in run.stdout + run.stderr  # Ray's notice for its own users
    for record in summary.trials:  # without a terminal: every param whole, never cut to a width
        assert f"trial {record.trial_id} {record.status}" in run.stdout
        assert all(f"{key}={value}" in run.stdout for key, value in record.params.items())
    assert f"Best trial {summary.best_trial.trial_id}" in run.stdout
    assert f"Promoted config: {out / layout.BEST_CONFIG}" in run.stdout
    assert f"Report:          {out / layout.REPORT}" in run.stdout
    assert "training.learning_rate = " in run.stdout
    assert "placement: each trial asks for 1 CPU; 1 of 1 node can hold one: 2 trials at once" in run.stdout
    hosts = {
        (m.host.hostname, m.host.ray_node_id is not None, m.host.node_ip is not None)
        for m in manifests(out).values()
    }
    assert hosts == {(socket.gethostname(), True, True)}
    verified = subprocess.run(
        [TUNESWEEP, "evidence", "verify", str(out)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_rerun_in_the_same_folder_resumes_the_same_plan(tmp_path: Path) -> None:
    sweep = TuningSweep.model_validate(sweep_manifest())
    first, resumed = plan_for(sweep, str(tmp_path))
    assert not resumed and first.sweep.namespace == "local" and first.evidence_uri == str(tmp_path)
    again, resumed = plan_for(sweep, str(tmp_path))
    assert resumed and again.sweep.uid == first.sweep.uid
    changed = TuningSweep.model_validate(sweep_manifest(trials={"count": 3}))
    with pytest.raises(SweepFileError, match="holds sweep 'test-sweep'"):
        plan_for(changed, str(tmp_path))


def test_an_invalid_sweep_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    manifest = sweep_manifest(trials={"count": 2, "parallel": 0})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(manifest))
    console = Console(record=True, width=200)
    assert (
        run_local(str(path), str(tmp_path / "out"), console, progress_interval_s=PROGRESS_INTERVAL_S)
        == EXIT_INVALID
    )
    text = console.export_text()
    assert "not a valid TuningSweep" in text and "bad.yaml: spec.trials.parallel" in text
    assert not (tmp_path / "out").exists()


def run_in_process(tmp_path: Path, manifest: dict[str, object]) -> int:
    """`tunesweep run` on the session's local Ray (it leaves a Ray it did not start running)."""
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(manifest))
    console = Console(record=True, width=200)
    return run_local(str(path), str(tmp_path / "out"), console, progress_interval_s=PROGRESS_INTERVAL_S)


@pytest.mark.usefixtures("local_ray")
def test_locally_the_driver_promotes(tmp_path: Path) -> None:
    assert run_in_process(tmp_path, sweep_manifest()) == EXIT_SUCCEEDED
    best = sweep_summary(tmp_path / "out").best_trial
    assert best is not None and best.trial_id in (tmp_path / "out" / layout.BEST_PARAMS).read_text()


@pytest.mark.usefixtures("local_ray")
def test_locally_a_failed_verdict_exits_1(tmp_path: Path) -> None:
    manifest = sweep_manifest(
        searchSpace={"model.name": {"choice": [UNLOADABLE_MODEL]}},
        trials={"count": 1, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 120},
    )
    assert run_in_process(tmp_path, manifest) == EXIT_FAILED
    summary = sweep_summary(tmp_path / "out")
    assert summary.status == "failed" and summary.reason.startswith("TooManyFailedTrials: ")
    assert not (tmp_path / "out" / "promoted").exists()


@pytest.mark.usefixtures("local_ray")
def test_without_out_the_sweep_goes_below_its_evidence_uri_and_a_rerun_resumes_it(tmp_path: Path) -> None:
    evidence = tmp_path / "bucket"
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep_manifest(evidence={"uri": f"file://{evidence}"})))
    folder = evidence / "local" / "test-sweep"
    for verb in ("Starting", "Resuming"):
        console = Console(record=True, width=200)
        assert run_local(str(path), None, console, progress_interval_s=PROGRESS_INTERVAL_S) == EXIT_SUCCEEDED
        text = console.export_text()
        assert f"{verb} sweep test-sweep" in text and f"evidence: {folder} (spec.evidence.uri)" in text
    assert sweep_summary(folder).status == "succeeded" and (folder / layout.BEST_CONFIG).exists()


def test_the_evidence_destination_is_out_else_below_the_evidence_uri_else_runs(tmp_path: Path) -> None:
    def destination(out: str | None, **evidence: str) -> EvidenceDestination:
        return evidence_destination(TuningSweep.model_validate(sweep_manifest(evidence=evidence)), out)

    out = str(tmp_path / "out")
    assert destination(out, uri="s3://bucket/prefix") == EvidenceDestination(out, "--out")
    assert destination(None, uri="s3://bucket/prefix") == EvidenceDestination(
        "s3://bucket/prefix/local/test-sweep", "spec.evidence.uri"
    )
    assert destination(None, uri="file:///srv/evidence/") == EvidenceDestination(
        "/srv/evidence/local/test-sweep", "spec.evidence.uri"
    )
    assert destination(None) == EvidenceDestination(
        str(Path("runs", "test-sweep").resolve()), "default: no spec.evidence.uri"
    )


def test_ctrl_c_marks_the_running_trial_interrupted_and_a_rerun_resumes_it_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    # One trial of 300 reports: it runs for seconds, so the interrupt lands while it trains.
    manifest = sweep_manifest(
        trainer={
            "backend": "mock",
            "baseConfig": {"training": {"max_steps": 3000, "report_every_steps": 10}},
        },
        trials={"count": 1, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 300},
    )
    path, out = tmp_path / "sweep.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(manifest))
    command = [TUNESWEEP, "run", str(path), "--out", str(out), "--progress-interval", "1"]
    driver = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in driver.stdout or ()], daemon=True)
    reader.start()
    said: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while not (said and re.match(r"trial \S+ step \d+: loss", said[-1])):  # progress: it trains
            assert time.monotonic() < deadline and driver.poll() is None, "".join(said)
            with contextlib.suppress(queue.Empty):
                said.append(lines.get(timeout=1))
        driver.send_signal(signal.SIGINT)  # as Ctrl-C, to the driver process alone
        assert driver.wait(timeout=120) == EXIT_INTERRUPTED
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # whatever it left, if the test failed first
    reader.join(timeout=30)  # to the end of what the driver printed
    while not lines.empty():
        said.append(lines.get_nowait())
    text = "".join(said)
    (record,) = sweep_summary(out).trials
    assert record.status == "interrupted" and record.primary_score is None, text
    (first,) = manifests(out).values()
    assert first.status == "interrupted" and first.finished_at is not None
    resumes = "(goes on from its newest checkpoint when the sweep resumes)"
    assert f"trial {record.trial_id} interrupted {resumes}" in text
    assert f"params training.learning_rate={record.params['training.learning_rate']}" in text
    assert "Token authentication" not in text
    interrupted = verify(str(out))
    assert interrupted.ok, interrupted.problems  # an interrupted trial is valid evidence

    newest = trial_checkpoints.latest(layout.trial_dir(str(out), record.trial_id))
    assert newest is not None and first.checkpoints[-1].step == newest.step
    # The rest of its 300 reports, each with a checkpoint: 0.5-1 s apiece on a loaded machine.
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == EXIT_SUCCEEDED, rerun.stdout + rerun.stderr
    assert f"trial {record.trial_id} resumes from step {newest.step} (its newest checkpoint)" in rerun.stdout
    (again,) = manifests(out).values()
    assert again.status == "succeeded"
    assert [a.resumed_from_step for a in again.attempts] == [0, newest.step]
    # the reports before the checkpoint are the first run's; none after it was lost or doubled
    metrics_uri = layout.join(layout.trial_dir(str(out), record.trial_id), layout.METRICS)
    steps = [line.step for line in bucket.read_jsonl(metrics_uri, MetricsLine)]
    assert steps == list(range(10, 3001, 10))
    assert sweep_summary(out).trials[0].status == "succeeded"
    report = verify(str(out))
    assert report.ok, report.problems


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "soon"])
def test_a_progress_interval_that_is_not_positive_seconds_is_refused(
    seconds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="tunesweep")
    run_command.add_parser(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["run", "sweep.yaml", "--progress-interval", seconds])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert f"argument --progress-interval: expected seconds above 0, got {seconds!r}" in error
