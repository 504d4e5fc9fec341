"""Per-trial resources, the trial results Tune sees, and how a sweep's end is decided (pure)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from tunesweep_evidence.documents import TrialRecord
from tunesweep_evidence.spec import PerTrialResources
from tunesweep_trainer.sweep.outcome import conclude
from tunesweep_trainer.sweep.resources import trial_resources
from tunesweep_trainer.sweep.results import tune_result


def test_trial_resources_per_accelerator() -> None:
    gpu = PerTrialResources.model_validate({"accelerator": "nvidia.com/gpu", "count": 1, "cpu": "4"})
    tpu = PerTrialResources.model_validate({"accelerator": "google.com/tpu", "count": 4, "cpu": "8"})
    assert trial_resources(gpu) == {"cpu": 4.0, "gpu": 1.0}
    assert trial_resources(tpu) == {"cpu": 8.0, "TPU": 4.0}
    assert trial_resources(gpu, max_cpu=1.0, accelerators=False) == {"cpu": 1.0}
    # whole CPUs, as the trial's Pod offers Ray (num-cpus is whole)
    half = PerTrialResources.model_validate({"cpu": "500m"})
    assert trial_resources(half) == {"cpu": 1.0}


def test_every_result_carries_the_objective_and_a_rung_score_that_is_a_number_only_where_measured() -> None:
    first = tune_result({"step": 10, "loss": 2.5, "learning_rate": 1e-3})
    assert first["loss"] == 2.5 and math.isnan(first["primary_score"]) and math.isnan(first["rung_score"])
    rung = tune_result({"step": 20, "loss": 2.0, "rung_score": 0.25})
    assert rung["rung_score"] == 0.25 and math.isnan(rung["primary_score"])
    assert tune_result({"step": 30, "primary_score": 0.75})["primary_score"] == 0.75
    assert math.isnan(tune_result({"step": 30, "primary_score": None})["primary_score"])


def record(trial_id: str, status: str, score: float | None = None, error: str | None = None) -> TrialRecord:
    return TrialRecord(trial_id=trial_id, status=status, primary_score=score, error=error)  # type: ignore[arg-type]


def test_a_scored_trial_makes_a_successful_sweep() -> None:
    outcome = conclude(
        [record("a", "succeeded", 0.5), record("b", "failed", error="boom")], mode="production", max_failed=1
    )
    assert (outcome.status, outcome.reason, outcome.promote) == ("succeeded", "", True)


def test_a_budget_that_ended_the_search_is_a_normal_end_and_says_so() -> None:
    spent = "BudgetSpent: one more trial would pass budget.acceleratorHours=4 GPU-hours"
    records = [record("a", "succeeded", 0.5), record("b", "early_stopped")]
    outcome = conclude(records, mode="production", max_failed=0, ended_by=spent)
    assert (outcome.status, outcome.reason, outcome.promote) == ("succeeded", spent, True)
    failed = conclude([record("a", "failed")], mode="production", max_failed=0, ended_by=spent)
    assert failed.status == "failed" and failed.reason.startswith("TooManyFailedTrials: ")


def test_more_failures_than_tolerated_fail_the_sweep() -> None:
    records = [record("a", "succeeded", 0.5), record("b", "failed", error="boom"), record("c", "failed")]
    outcome = conclude(records, mode="production", max_failed=1)
    assert outcome.status == "failed" and not outcome.promote
    assert outcome.reason.startswith(
        "TooManyFailedTrials: 2 of 3 trials failed, more than trials.maxFailed=1"
    )
    assert "trial b: boom" in outcome.reason


@pytest.mark.parametrize(("mode", "status"), [("production", "failed"), ("smoke", "succeeded")])
def test_no_scored_trial(mode: str, status: str) -> None:
    records: list[Any] = [record("a", "failed", error="boom"), record("b", "early_stopped")]
    outcome = conclude(records, mode=mode, max_failed=5)
    assert outcome.status == status
    assert outcome.reason.startswith("NoScoredTrial: none of 2 trials has a primary score (1 failed)")
