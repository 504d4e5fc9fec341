"""Mock-backend sweeps through the real driver on the session's local Ray: every algorithm, ASHA,
failing and timed-out trials against maxFailed, and production vs smoke without any score."""

from __future__ import annotations

import itertools
import math
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
import ray
from optuna.trial import TrialState
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import MetricsLine, RungDecisions
from tunesweep_evidence.verify import verify
from tunesweep_trainer.sweep.driver import EXIT_FAILED, EXIT_INVALID, EXIT_SUCCEEDED, drive
from tunesweep_trainer.sweep.searcher import ObjectiveSearch

from tests.sweep.sweeps import (
    UNLOADABLE_MODEL,
    frozen_plan,
    manifests,
    sweep_manifest,
    sweep_summary,
    unrunnable_plan,
)

pytestmark = pytest.mark.usefixtures("local_ray")


def assert_verified(out: Path) -> None:
    report = verify(str(out))
    assert report.ok, report.problems


def test_random_sweep_records_every_trial_and_promotes_the_best(tmp_path: Path) -> None:
    manifest = sweep_manifest(
        searchSpace={
            "training.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]},
            "training.per_device_batch_size": {"choice": [4, 8]},
            "training.warmup_steps": {"randint": [0, 10]},
        },
        trials={"count": 4, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 120},
    )
    plan = frozen_plan(tmp_path, manifest)
    result = drive(plan)

    assert result.exit_code == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    assert summary.status == "succeeded" and summary.reason == ""
    assert [r.status for r in summary.trials] == ["succeeded"] * 4
    (node,) = ray.nodes()  # the session's local Ray: where every trial ran
    where = (socket.gethostname(), node["NodeID"], node["NodeManagerAddress"])
    assert {(r.hostname, r.ray_node_id) for r in summary.trials} == {where[:2]}
    runs = manifests(tmp_path)
    assert set(runs) == {r.trial_id for r in summary.trials}
    for trial_id, run in runs.items():
        assert (run.tuning_job_id, run.trial_id, run.status) == (plan.sweep.uid, trial_id, "succeeded")
        assert (run.host.hostname, run.host.ray_node_id, run.host.node_ip) == where
        for path, value in run.params.items():  # the trial trained the sampled values
            section, key = path.split(".")
            assert run.config[section][key] == value
    best = max(summary.trials, key=lambda r: r.primary_score or -1.0)
    assert summary.best_trial is not None and summary.best_trial.trial_id == best.trial_id
    assert result.promotion is not None and result.promotion.best.trial_id == best.trial_id
    assert bucket.exists(layout.join(str(tmp_path), layout.BEST_CONFIG))
    report = (tmp_path / layout.REPORT).read_text()
    assert best.trial_id in report and 'data-figure="param-0"' in report  # plotted inline
    assert not list(tmp_path.glob("*.png"))
    assert_verified(tmp_path)


def test_grid_sweep_runs_each_combination_count_times(tmp_path: Path) -> None:
    manifest = sweep_manifest(
        algorithm={"name": "grid", "seed": 0},
        searchSpace={
            "training.learning_rate": {"grid": [1.0e-3, 3.0e-3]},
            "training.per_device_batch_size": {"choice": [4, 8]},
        },
        trials={"count": 1, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 120},
    )
    assert drive(frozen_plan(tmp_path, manifest)).exit_code == EXIT_SUCCEEDED
    seen = sorted(
        (r.params["training.learning_rate"], r.params["training.per_device_batch_size"])
        for r in sweep_summary(tmp_path).trials
    )
    assert seen == sorted(itertools.product([1.0e-3, 3.0e-3], [4, 8]))
    assert_verified(tmp_path)


def test_tpe_sweep_with_optuna(tmp_path: Path) -> None:
    manifest = sweep_manifest(
        algorithm={"name": "tpe", "seed": 3},
        searchSpace={
            "training.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]},
            "training.weight_decay": {"uniform": [0.0, 0.1]},
        },
        trials={"count": 3, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 120},
    )
    assert drive(frozen_plan(tmp_path, manifest)).exit_code == EXIT_SUCCEEDED
    trials = sweep_summary(tmp_path).trials
    assert len(trials) == 3 and all(r.status == "succeeded" and r.primary_score is not None for r in trials)
    assert all(1.0e-4 <= r.params["training.learning_rate"] <= 1.0e-2 for r in trials)
    assert_verified(tmp_path)


def test_tpe_hears_every_trial_of_an_asha_sweep_without_nan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    studies: list[optuna.Study] = []
    original = ObjectiveSearch.on_trial_complete

    def watched(self: ObjectiveSearch, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        studies.append(self._ot_study)  # the driver runs Tune's controller in this process

    monkeypatch.setattr(ObjectiveSearch, "on_trial_complete", watched)
    manifest = sweep_manifest(
        algorithm={"name": "tpe", "seed": 3},
        searchSpace={"training.learning_rate": {"loguniform": [1.0e-5, 3.0e-3]}},
        earlyStopping={"name": "asha", "gracePeriod": 10, "reductionFactor": 2},
        trials={"count": 8, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 120},
    )
    plan = frozen_plan(tmp_path, manifest)
    assert plan.search is not None and plan.search.random_startup_trials == 2
    assert drive(plan).exit_code == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    states = Counter(trial.state for trial in studies[-1].trials)
    assert states[TrialState.COMPLETE] == sum(r.status == "succeeded" for r in summary.trials)
    assert states[TrialState.PRUNED] == sum(r.status == "early_stopped" for r in summary.trials) > 0
    assert sum(states.values()) == 8  # none left RUNNING
    for trial in studies[-1].trials:
        values = [*(trial.values or []), *trial.intermediate_values.values()]
        assert values and not any(math.isnan(value) for value in values)
    assert_verified(tmp_path)


def test_asha_cuts_trials_at_rungs_on_their_rung_scores(tmp_path: Path) -> None:
    manifest = sweep_manifest(
        searchSpace={"training.learning_rate": {"loguniform": [1.0e-5, 3.0e-3]}},
        earlyStopping={"name": "asha", "gracePeriod": 10, "reductionFactor": 2},
        trials={"count": 6, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 120},  # one at a time
    )
    plan = frozen_plan(tmp_path, manifest)
    assert plan.search is not None and plan.search.rung_steps == [10, 20, 40]  # max_steps 60
    assert drive(plan).exit_code == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    stopped = [r for r in summary.trials if r.status == "early_stopped"]
    finished = [r for r in summary.trials if r.status == "succeeded"]
    assert stopped and finished and len(stopped) + len(finished) == 6
    # The scheduler's decisions, in order: verify replays each against the scores before it.
    recorded = bucket.read_document(str(tmp_path / layout.RUNG_DECISIONS), RungDecisions)
    assert {d.trial_id for d in recorded.decisions if d.cut} == {r.trial_id for r in stopped}
    runs = manifests(tmp_path)
    for record in summary.trials:
        lines = bucket.read_jsonl(str(tmp_path / "trials" / record.trial_id / layout.METRICS), MetricsLine)
        rungs = [(line.step, line.rung_score) for line in lines if line.rung_score is not None]
        assert [(r.step, r.score) for r in record.rung_scores] == rungs
        decided = [(d.step, d.score) for d in recorded.decisions if d.trial_id == record.trial_id]
        if record.status == "early_stopped":
            assert decided == rungs  # cut at its last rung
            assert runs[record.trial_id].status == "early_stopped" and record.primary_score is None
            assert not (tmp_path / "trials" / record.trial_id / layout.EVAL_SUMMARY).exists()
        else:
            assert decided == rungs and [step for step, _ in rungs] == [10, 20, 40]
    assert summary.best_trial is not None and summary.best_trial.trial_id in {r.trial_id for r in finished}
    assert summary.best_trial.test_score is not None
    # A cut trial's process is reused: it ran a later trial (one at a time, in trial id order).
    order = sorted(runs)
    process = {t: (runs[t].host.hostname, runs[t].host.process_id) for t in order}
    assert all(pid is not None for _, pid in process.values())
    assert any(
        process[t] == process[later]
        for t in (r.trial_id for r in stopped)
        for later in order[order.index(t) + 1 :]
    )
    assert_verified(tmp_path)
    # A decision rewritten, or the decisions removed, is named by verify.
    first_cut = next(index for index, d in enumerate(recorded.decisions) if d.cut)
    recorded.decisions[first_cut].cut = False
    bucket.write_document(str(tmp_path / layout.RUNG_DECISIONS), recorded)
    assert any(
        p.startswith(f"rung_decisions.json: decisions[{first_cut}] ") and "went on, the rule gives" in p
        for p in verify(str(tmp_path)).problems
    )
    (tmp_path / layout.RUNG_DECISIONS).unlink()
    assert any(p.startswith("rung_decisions.json: missing") for p in verify(str(tmp_path)).problems)


def failing_sweep(
    count: int, max_failed: int, parallel: int = 1, mode: str = "production"
) -> dict[str, object]:
    """Every other trial gets a model run_trial refuses, so it fails; grid order is fixed."""
    return sweep_manifest(
        mode=mode,
        algorithm={"name": "grid", "seed": 0},
        searchSpace={"model.name": {"grid": ["tiny", UNLOADABLE_MODEL]}},
        trials={"count": count, "parallel": parallel, "maxFailed": max_failed, "timeoutSeconds": 120},
    )


def test_failed_trials_within_max_failed_are_recorded_and_the_rest_promoted(tmp_path: Path) -> None:
    assert drive(frozen_plan(tmp_path, failing_sweep(count=1, max_failed=1))).exit_code == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    failed = [r for r in summary.trials if r.status == "failed"]
    assert len(failed) == 1 and "checkpoint" in (failed[0].error or "")
    run = manifests(tmp_path)[failed[0].trial_id]
    assert run.status == "failed" and "checkpoint" in (run.error or "")
    assert summary.status == "succeeded" and summary.best_trial is not None
    assert summary.best_trial.params["model.name"] == "tiny"
    assert_verified(tmp_path)


def test_more_failures_than_max_failed_stop_the_sweep(tmp_path: Path) -> None:
    result = drive(frozen_plan(tmp_path, failing_sweep(count=3, max_failed=1)))
    assert result.exit_code == EXIT_FAILED
    summary = sweep_summary(tmp_path)
    assert summary.status == "failed"
    assert summary.reason.startswith("TooManyFailedTrials: 2 of ")
    assert "more than trials.maxFailed=1" in summary.reason
    assert len(manifests(tmp_path)) < 6, "the sweep should stop before running all six trials"
    assert not bucket.exists(layout.join(str(tmp_path), layout.BEST_PARAMS))
    assert_verified(tmp_path)


@pytest.mark.parametrize(
    ("mode", "exit_code", "status"),
    [("production", EXIT_FAILED, "failed"), ("smoke", EXIT_SUCCEEDED, "succeeded")],
)
def test_a_sweep_without_any_score(tmp_path: Path, mode: str, exit_code: int, status: str) -> None:
    manifest = sweep_manifest(
        mode=mode,
        searchSpace={"model.name": {"choice": [UNLOADABLE_MODEL]}},
        trials={"count": 2, "parallel": 2, "maxFailed": 2, "timeoutSeconds": 120},
    )
    assert drive(frozen_plan(tmp_path, manifest)).exit_code == exit_code
    summary = sweep_summary(tmp_path)
    assert summary.status == status and summary.best_trial is None
    assert summary.reason.startswith("NoScoredTrial: none of 2 trials has a primary score (2 failed)")
    assert not bucket.exists(layout.join(str(tmp_path), layout.BEST_PARAMS))
    if mode == "production":
        # verify (evidence/verify.py) still reads a succeeded summary without best_trial as a
        # mismatch even when it recomputes no best trial either ("null != null"): reported.
        assert_verified(tmp_path)


def test_a_trial_past_its_timeout_is_ended_and_failed(tmp_path: Path) -> None:
    slow = sweep_manifest(
        trainer={
            "backend": "mock",
            "baseConfig": {"training": {"max_steps": 1_000_000, "report_every_steps": 1}},
        },
        trials={"count": 1, "parallel": 1, "maxFailed": 1, "timeoutSeconds": 3},
    )
    assert drive(frozen_plan(tmp_path, slow)).exit_code == EXIT_FAILED  # production: nothing scored
    (record,) = sweep_summary(tmp_path).trials
    assert record.status == "failed"
    assert (record.error or "").startswith("TrialTimeout: still running after trials.timeoutSeconds=3")
    run = manifests(tmp_path)[record.trial_id]
    assert run.status == "failed" and run.finished_at is not None
    assert_verified(tmp_path)


def test_a_plan_the_driver_cannot_run_fails_the_sweep_with_the_reason(tmp_path: Path) -> None:
    assert drive(unrunnable_plan(tmp_path)).exit_code == EXIT_INVALID
    summary = sweep_summary(tmp_path)
    assert summary.status == "failed" and summary.trials == []
    assert summary.reason == "InvalidPlan: plan.json's search gives algorithm tpe no random_startup_trials"
