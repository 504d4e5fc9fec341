"""`trials.maxFailed`: once more trials have failed than the sweep tolerates, it stops.

A Tune Callback counts the failed (ERROR) trials, restored ones included; a Stopper with the same
budget tells Tune to stop the whole experiment (`stop_all` is polled every controller step, so
running trials are stopped and no new one starts). Both live in the RunConfig, which Tune pickles
into the experiment state as one object, so a restored sweep gets them back still sharing it.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback, Stopper
from ray.tune.experiment import Trial


class FailureBudget(Callback):
    def __init__(self, max_failed: int) -> None:
        self.max_failed = max_failed
        self.failed: set[str] = set()

    @property
    def exceeded(self) -> bool:
        return len(self.failed) > self.max_failed

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        self.failed.update(trial.trial_id for trial in trials if trial.status == Trial.ERROR)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self.failed.add(trial.trial_id)

    def stopper(self) -> Stopper:
        return _BudgetStopper(self)


class _BudgetStopper(Stopper):
    def __init__(self, budget: FailureBudget) -> None:
        self.budget = budget

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.budget.exceeded
