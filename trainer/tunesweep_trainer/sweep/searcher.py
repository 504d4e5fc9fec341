"""TPE (Optuna) that hears every trial, and never a NaN.

Ray's OptunaSearch reports each result's metric to Optuna as an intermediate value and tells the
study the final one; a result without a primary score yet (NaN) would be refused by Optuna, and the
study's trial would stay RUNNING, so TPE would never learn from the trials ASHA cut. Here:
- a rung result reports its `rung_score` at its step (Optuna's intermediate values);
- a trial that ends with a primary score is COMPLETE with it;
- a trial cut by the scheduler is PRUNED: TPE then ranks it by its last rung score and step (Tune
  hands the searcher the result the scheduler cut on only as the trial's completion);
- a trial that failed is FAIL.
A warm start (`warm_start`) adds earlier sweeps' scored points to the study as COMPLETE trials before
the first suggestion (Ray's `evaluated_rewards`): TPE counts them among its random startup trials
and models them, yet they are no trials of this sweep. On restore the study comes back from Tune's
searcher state, seeded points included, so they are never added twice.
"""

from __future__ import annotations

import math
from typing import Any

from optuna.samplers import TPESampler
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from ..backend import RUNG_SCORE
from .results import OBJECTIVE, finite_or_nan


class ObjectiveSearch(OptunaSearch):
    def __init__(
        self,
        *,
        seed: int,
        random_startup_trials: int,
        seeded: list[dict[str, Any]] | None = None,
        seeded_scores: list[float] | None = None,
    ) -> None:
        """`seeded`: points (params by searchSpace path) already scored `seeded_scores`."""
        super().__init__(
            metric=OBJECTIVE,
            mode="max",
            sampler=TPESampler(seed=seed, n_startup_trials=random_startup_trials),
            points_to_evaluate=seeded or None,
            evaluated_rewards=seeded_scores or None,
        )
        self._reported_rungs: set[tuple[str, int]] = set()

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if trial_id in self._ot_trials and trial_id not in self._completed_trials:
            self._report_rung(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if trial_id not in self._ot_trials or trial_id in self._completed_trials:
            return
        # Tune hands the result a scheduler cut on to the searcher only here, not as a result.
        self._report_rung(trial_id, result or {})
        score = finite_or_nan((result or {}).get(OBJECTIVE))
        trial, study = self._ot_trials[trial_id], self._ot_study
        assert study is not None, "Tune sets the study up before it starts a trial"
        if math.isfinite(score):
            study.tell(trial, score, state=TrialState.COMPLETE)
        else:
            study.tell(trial, state=TrialState.FAIL if error else TrialState.PRUNED)
        self._completed_trials.add(trial_id)

    def _report_rung(self, trial_id: str, result: dict[str, Any]) -> None:
        score = finite_or_nan(result.get(RUNG_SCORE))
        rung = (trial_id, int(result.get("step", 0)))
        if math.isfinite(score) and rung not in self._reported_rungs:
            self._reported_rungs.add(rung)
            self._ot_trials[trial_id].report(score, rung[1])
