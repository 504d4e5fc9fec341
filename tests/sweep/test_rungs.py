"""ASHA on rung scores and the searcher's feedback (pure: no Ray runtime)."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from optuna.trial import TrialState
from ray import tune
from ray.tune.schedulers import TrialScheduler
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import RungDecisions
from tunesweep_trainer.sweep.rungs import RungScheduler
from tunesweep_trainer.sweep.searcher import ObjectiveSearch


def test_the_scheduler_stops_what_the_ladder_cuts_and_never_a_trial_done_training(tmp_path: Path) -> None:
    scheduler = RungScheduler(str(tmp_path), [10], reduction_factor=2)

    def decide(trial_id: str, reported: dict[str, Any]) -> str:
        return scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial_id), reported)  # type: ignore[arg-type]

    assert decide("a", result(10, rung_score=0.8)) == TrialScheduler.CONTINUE
    assert decide("b", result(5, loss=1.0)) == TrialScheduler.CONTINUE
    assert decide("b", result(10, rung_score=0.1)) == TrialScheduler.STOP
    # The evaluated end of a trial whose max_steps is a rung: it counts there, and is never cut.
    assert decide("c", {**result(10, rung_score=0.0), "primary_score": 0.0}) == TrialScheduler.CONTINUE
    recorded = bucket.read_document(str(tmp_path / layout.RUNG_DECISIONS), RungDecisions)
    assert [(d.trial_id, d.cut, d.finished) for d in recorded.decisions] == [
        ("a", False, False),
        ("b", True, False),
        ("c", False, True),
    ]
    # Tune restores the scheduler it pickled when the sweep started: it goes on from the file.
    restored = pickle.loads(pickle.dumps(RungScheduler(str(tmp_path), [10], reduction_factor=2)))
    assert (
        restored.on_trial_result(None, SimpleNamespace(trial_id="d"), result(10, rung_score=0.05)) == "STOP"
    )  # type: ignore[arg-type]
    assert len(bucket.read_document(str(tmp_path / layout.RUNG_DECISIONS), RungDecisions).decisions) == 4


def result(step: int, **metrics: float) -> dict[str, Any]:
    return {"step": step, "primary_score": math.nan, **metrics}


def _searcher() -> ObjectiveSearch:
    searcher = ObjectiveSearch(seed=0, random_startup_trials=2)
    assert searcher.set_search_properties(None, None, {"training.learning_rate": tune.loguniform(1e-4, 1e-1)})
    return searcher


def test_the_searcher_hears_every_trial_without_nan() -> None:
    searcher = _searcher()
    for trial_id in ("done", "cut", "failed", "cut-before-any-rung"):
        assert searcher.suggest(trial_id) is not None
    for trial_id in ("done", "cut"):
        searcher.on_trial_result(trial_id, result(10, loss=2.0))  # no rung: nothing reported
        searcher.on_trial_result(trial_id, result(20, rung_score=0.25))
    # The result a scheduler cuts on reaches the searcher only with the completion (as Tune does).
    searcher.on_trial_complete("done", {**result(100), "primary_score": 0.75})
    searcher.on_trial_complete("cut", result(60, rung_score=0.5))
    searcher.on_trial_complete("failed", None, error=True)
    searcher.on_trial_complete("cut-before-any-rung", result(5))
    trials = {t.user_attrs.get("ray_trial_id", n): t for n, t in enumerate(searcher._ot_study.trials)}
    by_id = dict(
        zip(("done", "cut", "failed", "cut-before-any-rung"), searcher._ot_study.trials, strict=True)
    )
    assert len(trials) == 4
    assert (by_id["done"].state, by_id["done"].value) == (TrialState.COMPLETE, 0.75)
    assert by_id["done"].intermediate_values == {20: 0.25}
    assert by_id["cut"].state == TrialState.PRUNED
    assert by_id["cut"].intermediate_values == {20: 0.25, 60: 0.5}  # TPE ranks it by its last rung
    assert by_id["failed"].state == TrialState.FAIL
    assert by_id["cut-before-any-rung"].state == TrialState.PRUNED
    assert not any(
        math.isnan(value)
        for trial in searcher._ot_study.trials
        for value in [*(trial.values or []), *trial.intermediate_values.values()]
    )
    searcher.on_trial_complete("done", {**result(100), "primary_score": 0.1})  # told once only
    assert by_id["done"].value == 0.75
