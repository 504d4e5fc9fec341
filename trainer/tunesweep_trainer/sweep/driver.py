"""The sweep driver: a plan in; trials, sweep_summary.json, the promotion and report.html out.

It starts the Ray Tune experiment or resumes the one already under `<evidence>/ray/`, waits for
it, decides how the sweep ended (`outcome`), promotes the best trial through the one promotion
the operator also uses, and writes the report and the final summary (last, so that a reader who
sees a final status also finds everything else).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ray.tune import ExperimentAnalysis
from ray.tune.experiment import Trial
from tunesweep_evidence.documents import ObjectiveRecord, Plan, SweepSummary, TrialRecord
from tunesweep_evidence.promotion import PromotionError, PromotionRefusal, PromotionResult, promote

from .outcome import conclude
from .plan import PlanError, spec_of
from .progress import SweepProgress, best_so_far, summary, write_summary
from .ray_storage import ray_storage
from .report import write_report
from .tuner import Placement, tuner_for

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130
_SMOKE_REFUSALS = (PromotionRefusal.no_scored_trial, PromotionRefusal.no_succeeded_trial)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriveResult:
    exit_code: int
    summary: SweepSummary | None
    """The final summary; None when the sweep was interrupted (it resumes on the next run)."""
    promotion: PromotionResult | None = None
    report_uri: str | None = None


def drive(plan: Plan, placement: Placement | None = None) -> DriveResult:
    spec = spec_of(plan)
    objective = ObjectiveRecord.model_validate(spec.objective.model_dump())
    mode = spec.mode.value
    try:
        tuner = tuner_for(plan, spec, placement or Placement())
    except PlanError as error:
        document = summary(plan, objective, mode, [], status="failed", reason=f"InvalidPlan: {error}")
        write_summary(plan, document)
        return DriveResult(EXIT_INVALID, document)
    tuner.fit()
    storage = ray_storage(plan.evidence_uri)
    trials = ExperimentAnalysis(storage.experiment_path, storage_filesystem=storage.filesystem).trials
    if any(trial.status not in (Trial.TERMINATED, Trial.ERROR) for trial in trials):
        return DriveResult(EXIT_INTERRUPTED, None)  # Ctrl-C: Tune saved its state; the summary says running
    records = _final_records(SweepProgress(plan, objective, mode).records(trials))
    conclusion = conclude(records, mode=mode, max_failed=spec.trials.max_failed)
    status, reason = conclusion.status, conclusion.reason
    best, promotion = best_so_far(records, objective), None
    if conclusion.promote:
        try:
            promotion = promote(plan.evidence_uri)
            best = promotion.best_trial_record
        except PromotionError as error:
            if not (mode == "smoke" and error.reason in _SMOKE_REFUSALS):
                status, reason = "failed", f"{error.reason.value}: {error}"
    document = summary(plan, objective, mode, records, status=status, reason=reason, best=best)
    report_uri = _report(plan, document)
    write_summary(plan, document)
    exit_code = EXIT_SUCCEEDED if status == "succeeded" else EXIT_FAILED
    return DriveResult(exit_code, document, promotion, report_uri)


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
