"""Local mode: `tunesweep run SWEEP.yaml` end to end, its plan handling, and its errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from tunesweep_evidence import layout
from tunesweep_evidence.spec import TuningSweep
from tunesweep_trainer.sweep.driver import EXIT_FAILED, EXIT_INVALID, EXIT_SUCCEEDED
from tunesweep_trainer.sweep.local import SweepFileError, plan_for, run_local

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
    assert run_local(str(path), str(tmp_path / "out"), console) == EXIT_INVALID
    text = console.export_text()
    assert "not a valid TuningSweep" in text and "bad.yaml: spec.trials.parallel" in text
    assert not (tmp_path / "out").exists()


def run_in_process(tmp_path: Path, manifest: dict[str, object]) -> int:
    """`tunesweep run` on the session's local Ray (it leaves a Ray it did not start running)."""
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return run_local(str(path), str(tmp_path / "out"), Console(record=True, width=200))


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
