"""`trials.maxFailed`: once more trials have failed than the sweep tolerates, it stops; and
`trials.maxRestarts` is for lost processes and nodes only (`TrainerErrors`).

A Tune Callback counts the failed (ERROR) trials, restored ones included; a Stopper with the same
budget tells Tune to stop the whole experiment (`stop_all` is polled every controller step, so
running trials are stopped and no new one starts). Both live in the RunConfig, which Tune pickles
into the experiment state as one object, so a restored sweep gets them back still sharing it.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.tune import Callback, Stopper
from ray.tune.experiment import Trial
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import RunManifest

logger = logging.getLogger(__name__)


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


class TrainerErrors(Callback):
    """Ray Tune retries every trial error alike (FailureConfig.max_failures). A lost process or node
    is worth a restart: the trial goes on from its checkpoint. An error of the trainer itself would
    only happen again, and the trial's run_manifest.json says which it was: `run_trial` marks it
    failed before raising, a lost process leaves it running. So once Tune has queued a trial again
    after an error its evidence calls failed, its restarts are taken away: its next start reads that
    evidence and fails at once, without training (`trainable._replayed`), and Tune ends it as failed.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def on_trial_recover(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        manifest_uri = layout.join(layout.trial_dir(self.root, trial.trial_id), layout.RUN_MANIFEST)
        if not bucket.exists(manifest_uri):
            return
        manifest = bucket.read_document(manifest_uri, RunManifest)
        if manifest.status == "failed":
            trial.max_failures = trial.run_metadata.num_failures
            logger.info("trial %s failed in its trainer, not retried: %s", trial.trial_id, manifest.error)
