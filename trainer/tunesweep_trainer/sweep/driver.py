"""The sweep driver: a plan in; trials, sweep_summary.json, report.html and (locally) the promotion out.

It starts the Ray Tune experiment or resumes the one already under `<evidence>/ray/`, waits for
it, decides how the sweep ended (`outcome`), and writes the report and the final summary (last,
so that a reader who sees a final status also finds everything else). Before the first trial it
checks spec.warmStart's sources and seeds the searcher with their points (`warm_start`; a source
that does not verify or does not match fails the sweep there) and records the eval set every trial
is evaluated on (eval_set.json); after a local promotion it
writes digests.json again, over the final summary and report. Whoever acts on the
verdict promotes: local mode asks the driver to (`promote=True`, the one promotion the operator
also uses); on a cluster the operator promotes once the Ray job ends, from the evidence, so the
driver does not (`promote=False`). `drive_on` first places the trials on the Ray nodes there are
(`placement`), and refuses a sweep whose trial fits on no node of a cluster.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ray.tune import ExperimentAnalysis
from ray.tune.experiment import Trial
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.budget import terms_of
from tunesweep_evidence.digests import signing_key_from_env, write_digests
from tunesweep_evidence.documents import (
    BestTrialRecord,
    EvalSet,
    ObjectiveRecord,
    Plan,
    SweepBudget,
    SweepSummary,
    TrialRecord,
    WarmStartRecord,
)
from tunesweep_evidence.eval_set import build_eval_set
from tunesweep_evidence.promotion import PromotionError, PromotionRefusal, PromotionResult
from tunesweep_evidence.promotion import promote as promote_best
from tunesweep_evidence.selection import promotes_unscored
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_evidence.training_config import DataConfig
from tunesweep_evidence.warm_start import WarmStartError

from ..trial import held_out_examples
from .budget import BudgetView, priced
from .outcome import conclude
from .placement import Placement, PlacementError
from .plan import PlanError, spec_of
from .progress import SweepProgress, best_so_far, summary, write_summary
from .ray_runtime import RaySession, placement_for
from .ray_storage import ray_storage
from .report import write_report
from .trial_processes import wait_for_trial_processes
from .tuner import tuner_for
from .warm_start import warm_start

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130
_SMOKE_REFUSALS = (PromotionRefusal.no_scored_trial, PromotionRefusal.no_succeeded_trial)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriveResult:
    exit_code: int
    """The verdict as a terminal's exit status (0 succeeded, 1 failed, 2 refused, 130 interrupted)."""
    summary: SweepSummary | None
    """The final summary; None when the sweep was interrupted (it resumes on the next run)."""
    promotion: PromotionResult | None = None
    report_uri: str | None = None


def drive_on(session: RaySession, plan: Plan, *, promote: bool) -> DriveResult:
    """The sweep on this Ray session: its trials placed on the nodes there are (`placement_for`),
    or the sweep refused when they cannot be (`TrialDoesNotFit`: no node holds one trial)."""
    try:
        placement = placement_for(session, spec_of(plan))
    except PlanError as error:
        return refuse(plan, f"InvalidPlan: {error}")
    except PlacementError as error:
        return refuse(plan, f"TrialDoesNotFit: {error}")
    return drive(plan, placement, promote=promote)


def drive(plan: Plan, placement: Placement | None = None, *, promote: bool = True) -> DriveResult:
    """`promote=False` leaves the promotion to the operator: the summary then says how the trials
    ended, and a promotion refusal (e.g. below promotion.minScore) is the operator's to report."""
    sweep = _Sweep.of(plan)
    try:
        return _run(sweep, placement or Placement(), promote)
    except Exception as error:
        # Say why in the summary too (the operator reads it), then fail loudly; a retried driver
        # resumes the experiment and rewrites the summary.
        with contextlib.suppress(Exception):
            sweep.write(sweep.last_records(), "failed", f"DriverError: {type(error).__name__}: {error}")
        raise


def refuse(plan: Plan, reason: str) -> DriveResult:
    """End a sweep that cannot start on this Ray (e.g. `TrialDoesNotFit: ...`): the summary says
    why (the operator reads it), keeping the trials an earlier run of the driver recorded."""
    sweep = _Sweep.of(plan)
    return DriveResult(EXIT_INVALID, sweep.write(sweep.last_records(), "failed", reason))


@dataclass(frozen=True)
class _Sweep:
    plan: Plan
    spec: TuningSweepSpec
    objective: ObjectiveRecord
    mode: str
    warm_start: list[WarmStartRecord] = field(default_factory=list)
    """What each spec.warmStart source seeded, once checked (`warm_start`)."""

    @classmethod
    def of(cls, plan: Plan) -> _Sweep:
        spec = spec_of(plan)
        return cls(plan, spec, ObjectiveRecord.model_validate(spec.objective.model_dump()), spec.mode.value)

    def summary(
        self,
        records: list[TrialRecord],
        status: str,
        reason: str,
        best: BestTrialRecord | None = None,
        promoted_by: str | None = None,
    ) -> SweepSummary:
        records, spend = self.priced(records)
        return summary(
            self.plan,
            self.objective,
            self.mode,
            records,
            status=status,
            reason=reason,
            best=best,
            promoted_by=promoted_by,
            warm_start=self.warm_start,
            budget=spend,
        )

    def priced(self, records: list[TrialRecord]) -> tuple[list[TrialRecord], SweepBudget | None]:
        """spec.budget: each trial's cost and the spend, from the budget's ledger as the progress
        callback last wrote it into the summary."""
        terms = terms_of(self.spec)
        if terms is None:
            return records, None
        now = datetime.now(UTC)
        return priced(terms, records, BudgetView.of_summary(self.last_summary(), now), now)

    def budget_ended_search(self) -> str:
        """Why spec.budget stopped the search before every planned trial ran; empty if it did not."""
        last = self.last_summary()
        return last.budget.stopped_starting if last is not None and last.budget is not None else ""

    def write(
        self, records: list[TrialRecord], status: str, reason: str, best: BestTrialRecord | None = None
    ) -> SweepSummary:
        document = self.summary(records, status, reason, best)
        write_summary(self.plan, document)
        return document

    def last_records(self) -> list[TrialRecord]:
        """The trials as the progress callback last wrote them."""
        last = self.last_summary()
        return last.trials if last is not None else []

    def last_summary(self) -> SweepSummary | None:
        uri = layout.join(self.plan.evidence_uri, layout.SWEEP_SUMMARY)
        return bucket.read_document(uri, SweepSummary) if bucket.exists(uri) else None


def _run(sweep: _Sweep, placement: Placement, promote: bool) -> DriveResult:
    plan, mode = sweep.plan, sweep.mode
    eval_set = _eval_set(sweep)
    try:
        warm = warm_start(plan, sweep.spec, eval_set)
    except WarmStartError as error:  # before any trial: nothing runs on evidence that cannot seed
        return DriveResult(EXIT_INVALID, sweep.write(sweep.last_records(), "failed", str(error)))
    sweep = replace(sweep, warm_start=warm.records)
    try:
        tuner = tuner_for(plan, sweep.spec, placement, warm)
    except PlanError as error:
        return DriveResult(EXIT_INVALID, sweep.write([], "failed", f"InvalidPlan: {error}"))
    _record_eval_set(sweep, eval_set)
    fit_started = datetime.now(UTC).replace(microsecond=0)  # as evidence times are: whole seconds
    tuner.fit()
    storage = ray_storage(plan.evidence_uri)
    trials = ExperimentAnalysis(storage.experiment_path, storage_filesystem=storage.filesystem).trials
    progress = SweepProgress(plan, sweep.objective, mode)
    # Tune kills the processes of the trials it stops (cut, or the sweep ending) without waiting for
    # them: the trials are settled below from their evidence, which must be their processes' last.
    wait_for_trial_processes(
        plan.evidence_uri, [trial.trial_id for trial in trials], started_since=fit_started
    )
    if any(trial.status not in (Trial.TERMINATED, Trial.ERROR) for trial in trials):
        # Ctrl-C: Tune saved its state, with the trials it had not finished still to run.
        records = progress.records(trials, interrupted=True)
        sweep.write(records, "running", "", best_so_far(plan, records, sweep.objective))
        return DriveResult(EXIT_INTERRUPTED, None)
    records = _final_records(progress.records(trials))
    conclusion = conclude(
        records, mode=mode, max_failed=sweep.spec.trials.max_failed, ended_by=sweep.budget_ended_search()
    )
    status, reason = conclusion.status, conclusion.reason
    # Named as the operator's promotion will choose it (smoke mode may take an unscored trial).
    unscored = conclusion.promote and promotes_unscored(mode, sweep.spec.promotion.min_score)
    best, promotion = best_so_far(plan, records, sweep.objective, allow_unscored=unscored), None
    if promote and conclusion.promote:
        try:
            promotion = promote_best(plan.evidence_uri)
            best = promotion.best_trial_record
        except PromotionError as error:
            if not (mode == "smoke" and error.reason in _SMOKE_REFUSALS):
                status, reason = "failed", f"{error.reason.value}: {error}"
    document = sweep.summary(records, status, reason, best, "driver" if promote else "operator")
    report_uri = _report(plan, document)  # before the final summary: a final status means all is there
    write_summary(plan, document)
    if promotion is not None:  # the digests cover the final summary and report too: last again
        write_digests(plan.evidence_uri, key=signing_key_from_env())
    exit_code = EXIT_SUCCEEDED if status == "succeeded" else EXIT_FAILED
    return DriveResult(exit_code, document, promotion, report_uri)


def _eval_set(sweep: _Sweep) -> EvalSet:
    """What every trial will be evaluated on: the set recorded by the sweep's first run (a resumed
    sweep keeps it), else the base config's."""
    uri = layout.join(sweep.plan.evidence_uri, layout.EVAL_SET)
    if bucket.exists(uri):
        return bucket.read_document(uri, EvalSet)
    backend = sweep.spec.trainer.backend
    # The base config's: the spec refuses a searchSpace over the evaluation protocol.
    data = DataConfig.model_validate(sweep.spec.trainer.base_config.get("data", {}))
    evaluation, test = held_out_examples(backend, data)
    return build_eval_set(backend, data, evaluation, test)


def _record_eval_set(sweep: _Sweep, eval_set: EvalSet) -> None:
    """eval_set.json, once per sweep, before the first trial."""
    uri = layout.join(sweep.plan.evidence_uri, layout.EVAL_SET)
    if not bucket.exists(uri):
        bucket.write_document(uri, eval_set)


def _final_records(records: list[TrialRecord]) -> list[TrialRecord]:
    # A trial the sweep stopped before it started has no evidence and nothing to say.
    return [r for r in records if not (r.status == "early_stopped" and r.started_at is None and not r.error)]


def _report(plan: Plan, document: SweepSummary) -> str | None:
    # The report is a view of the evidence: failing to draw it must not fail a finished sweep.
    try:
        return write_report(plan, document)
    except Exception:
        logger.exception("could not write the sweep report")
        return None
