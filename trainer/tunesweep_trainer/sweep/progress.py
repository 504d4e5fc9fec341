"""sweep_summary.json while the sweep runs: a Ray Tune Callback rewrites it whenever a trial
changes state (and, at most every few seconds, as trials report), so the operator (which polls
the bucket) and a user can follow the sweep. The driver writes the one after the experiment
(`summary`): the final one, or the interrupted one (Tune's cleanup after Ctrl-C ends the running
trials without telling this callback why, so only the driver can tell them from cut ones)."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import (
    BestTrialRecord,
    EvalSummary,
    ObjectiveRecord,
    Plan,
    RungScore,
    SweepBudget,
    SweepSummary,
    TrialRecord,
    WarmStartRecord,
)
from tunesweep_evidence.selection import best_trial

from ..backend import RUNG_SCORE
from .budget import BudgetLedger, BudgetView, priced
from .results import finite_or_nan
from .trial_records import End, live_record, now_iso, settled_record

_RESULT_WRITE_INTERVAL_S = 3.0
logger = logging.getLogger(__name__)


def summary(
    plan: Plan,
    objective: ObjectiveRecord,
    mode: str,
    records: list[TrialRecord],
    *,
    status: str = "running",
    reason: str = "",
    best: BestTrialRecord | None = None,
    promoted_by: str | None = None,
    warm_start: list[WarmStartRecord] | None = None,
    budget: SweepBudget | None = None,
) -> SweepSummary:
    return SweepSummary(
        sweep=plan.sweep,
        mode=mode,
        objective=objective,
        status=status,
        reason=reason,
        trials=sorted(records, key=lambda record: record.trial_id),
        best_trial=best,
        promoted_by=promoted_by,
        warm_start=warm_start or [],
        budget=budget,
        updated_at=now_iso(),
    )


def best_so_far(
    plan: Plan, records: list[TrialRecord], objective: ObjectiveRecord, *, allow_unscored: bool = False
) -> BestTrialRecord | None:
    """The best trial as promotion would choose it (`allow_unscored`: smoke mode's final summary),
    with its held-out test score beside (read after the choice, which never sees it)."""
    best = best_trial(records, objective.mode, allow_unscored=allow_unscored)
    if best is None:
        return None
    evaluation_uri = layout.join(layout.trial_dir(plan.evidence_uri, best.trial_id), layout.EVAL_SUMMARY)
    evaluation = bucket.read_document(evaluation_uri, EvalSummary) if bucket.exists(evaluation_uri) else None
    return BestTrialRecord(
        trial_id=best.trial_id,
        params=best.params,
        primary_score=best.primary_score,
        test_score=evaluation.test_score if evaluation is not None else None,
    )


def write_summary(plan: Plan, document: SweepSummary) -> None:
    bucket.write_document(layout.join(plan.evidence_uri, layout.SWEEP_SUMMARY), document)


class SweepProgress(Callback):
    def __init__(
        self,
        plan: Plan,
        objective: ObjectiveRecord,
        mode: str,
        warm_start: list[WarmStartRecord] | None = None,
        ledger: BudgetLedger | None = None,
    ) -> None:
        """`ledger`: spec.budget's, shared with the budget's hooks (`budget`), to price the trials."""
        self.plan = plan
        self.ledger = ledger
        self.objective = objective
        self.mode = mode
        self.warm_start = warm_start or []
        self._settled: dict[str, TrialRecord] = {}
        self._started_at: dict[str, str] = {}
        self._rung_scores: dict[str, list[RungScore]] = {}
        self._last_write = 0.0
        self._wrote_first = False

    def records(self, trials: list[Trial], *, interrupted: bool = False) -> list[TrialRecord]:
        """Each trial's record. `interrupted`: the sweep was stopped (Ctrl-C) before the trials Tune
        still shows unfinished ended; they run again when it resumes."""
        records = []
        for trial in trials:
            if trial.trial_id not in self._settled:
                if trial.status in (Trial.TERMINATED, Trial.ERROR):
                    self._settle(trial, "failed" if trial.status == Trial.ERROR else "early_stopped")
                elif interrupted:
                    self._settle(trial, "interrupted")
            record = self._settled.get(trial.trial_id)
            records.append(
                record
                or live_record(
                    trial, self._started_at.get(trial.trial_id), self._rung_scores.get(trial.trial_id, [])
                )
            )
        return records

    def _settle(self, trial: Trial, end: End) -> None:
        self._settled[trial.trial_id] = settled_record(
            self.plan.evidence_uri, trial, self.plan.sweep.uid, end=end
        )

    def write(self, trials: list[Trial]) -> None:
        # Tune treats an exception raised by a callback as the trial's failure: a store hiccup
        # while reporting progress must not fail a trial (the driver's final write does raise).
        try:
            records, spend = self.records(trials), None
            if self.ledger is not None:
                view = BudgetView.of_ledger(self.ledger)
                records, spend = priced(self.ledger.terms, records, view, datetime.now(UTC))
            write_summary(
                self.plan,
                summary(
                    self.plan,
                    self.objective,
                    self.mode,
                    records,
                    best=best_so_far(self.plan, records, self.objective),
                    warm_start=self.warm_start,
                    budget=spend,
                ),
            )
        except Exception as error:
            logger.warning("could not update %s: %s", layout.SWEEP_SUMMARY, error)
        self._last_write = time.monotonic()

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        if not self._wrote_first:  # a restored sweep shows its earlier trials at once
            self._wrote_first = True
            self.write(trials)

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._started_at[trial.trial_id] = now_iso()
        self.write(trials)

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        score = finite_or_nan(result.get(RUNG_SCORE))
        if math.isfinite(score):  # a rung result: written at once, so the table shows the decision
            self._rung_scores.setdefault(trial.trial_id, []).append(
                RungScore(step=result["step"], score=score)
            )
            self.write(trials)
        elif time.monotonic() - self._last_write >= _RESULT_WRITE_INTERVAL_S:
            self.write(trials)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        # Called while Ray still shows the trial RUNNING (or PENDING when the sweep stops first).
        try:
            self._settle(trial, "early_stopped")
        except Exception as error:
            logger.warning("could not settle trial %s: %s", trial.trial_id, error)
        self.write(trials)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self.write(trials)

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        if self.ledger is not None:  # the budget's last word: why it stopped starting trials
            self.write(trials)
