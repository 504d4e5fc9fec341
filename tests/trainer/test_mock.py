from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence.training_config import TrainingConfig, TrainingSection
from tunesweep_trainer import mock
from tunesweep_trainer.trial import TrialIdentity, TrialStopped, run_trial

from tests.trainer import evidence_files

SWEEP_CONFIG = {"training": {"max_steps": 100, "report_every_steps": 20}, "data": {"eval_size": 40}}


def test_mock_trial_is_deterministic_and_marked_as_mock(tmp_path: Path) -> None:
    identity = TrialIdentity(tuning_job_id="uid-1", trial_id="t1", params={"training.max_steps": 100})
    first = run_trial("mock", SWEEP_CONFIG, str(tmp_path / "a"), identity=identity)
    second = run_trial("mock", SWEEP_CONFIG, str(tmp_path / "b"))
    assert first.primary_score == second.primary_score
    manifest, lines, summary = evidence_files.read(tmp_path / "a")
    _, other_lines, other_summary = evidence_files.read(tmp_path / "b")
    assert summary is not None and other_summary is not None
    assert [row.prediction for row in summary.rows] == [row.prediction for row in other_summary.rows]
    assert [line.loss for line in lines] == [line.loss for line in other_lines]
    assert (manifest.backend, summary.backend, summary.judge.name) == ("mock", "mock", "mock-surface")
    assert (manifest.status, manifest.tuning_job_id, manifest.trial_id) == ("succeeded", "uid-1", "t1")
    assert manifest.params == {"training.max_steps": 100}
    assert all(row.prompt.startswith("(mock)") for row in summary.rows)
    assert summary.n_examples == 40 and summary.primary_score == first.primary_score
    assert [line.step for line in lines] == [20, 40, 60, 80, 100]
    losses = [line.loss for line in lines if line.loss is not None]
    assert losses == sorted(losses, reverse=True) and len(losses) == 5


def test_mock_score_tracks_its_surface() -> None:
    def score(**changes: Any) -> float:
        return mock.noisy_score(TrainingSection(max_steps=100, warmup_steps=5, **changes))

    best = score(learning_rate=3e-3)
    assert best > score(learning_rate=3e-4) + 0.2
    assert best > score(learning_rate=3e-2) + 0.2
    assert best > score(learning_rate=3e-3, weight_decay=0.3)
    assert abs(best - mock.surface(TrainingSection(max_steps=100, warmup_steps=5))) < 5 * mock.NOISE


def test_mock_rows_mean_is_the_score(tmp_path: Path) -> None:
    config = TrainingConfig.model_validate({"data": {"eval_size": 200}, "training": {"max_steps": 10}})
    outcome = run_trial("mock", config, str(tmp_path))
    expected = mock.noisy_score(config.training)
    assert outcome.primary_score is not None
    assert abs(outcome.primary_score - expected) <= 1 / (2 * 200)


def test_reports_carry_metrics_and_the_final_one_the_score(tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    outcome = run_trial("mock", SWEEP_CONFIG, str(tmp_path), report=reports.append)
    assert [r["step"] for r in reports] == [20, 40, 60, 80, 100]
    assert all({"loss", "learning_rate", "elapsed_s"} <= r.keys() for r in reports)
    assert all("primary_score" not in r for r in reports[:-1])
    assert reports[-1]["primary_score"] == outcome.primary_score
    assert reports[-1]["answer_correctness"] == outcome.primary_score
    assert "training_iteration" not in reports[-1]


def test_a_stopping_report_marks_the_trial_early_stopped(tmp_path: Path) -> None:
    def stop_at_40(metrics: dict[str, Any]) -> None:
        if metrics["step"] == 40:
            raise TrialStopped("cut by ASHA")

    with pytest.raises(TrialStopped):
        run_trial("mock", SWEEP_CONFIG, str(tmp_path), report=stop_at_40)
    manifest, lines, summary = evidence_files.read(tmp_path)
    assert manifest.status == "early_stopped" and manifest.finished_at is not None
    assert [line.step for line in lines] == [20, 40] and summary is None


def test_a_failing_report_marks_the_trial_failed(tmp_path: Path) -> None:
    def broken(metrics: dict[str, Any]) -> None:
        raise ConnectionError("driver went away")

    with pytest.raises(ConnectionError):
        run_trial("mock", SWEEP_CONFIG, str(tmp_path), report=broken)
    manifest, _, _ = evidence_files.read(tmp_path)
    assert manifest.status == "failed"
    assert manifest.error == "ConnectionError: driver went away"


def test_invalid_config_fails_the_trial_with_the_field_path(tmp_path: Path) -> None:
    from tunesweep_trainer.trial import InvalidConfig

    bad = {"training": {"per_device_batch_size": 0}, "modle": {}}
    with pytest.raises(InvalidConfig) as caught:
        run_trial("mock", bad, str(tmp_path))
    assert "training.per_device_batch_size: Input should be greater than or equal to 1" in str(caught.value)
    assert "modle: Extra inputs are not permitted" in str(caught.value)
    manifest, _, _ = evidence_files.read(tmp_path)
    assert manifest.status == "failed" and manifest.config == bad


def test_a_trial_outside_ray_names_its_host_but_no_ray_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "ray", raising=False)  # as in a standalone `tunesweep train`
    run_trial("mock", SWEEP_CONFIG, str(tmp_path))
    manifest, _, _ = evidence_files.read(tmp_path)
    assert manifest.host.hostname == socket.gethostname()
    assert (manifest.host.ray_node_id, manifest.host.node_ip) == (None, None)
