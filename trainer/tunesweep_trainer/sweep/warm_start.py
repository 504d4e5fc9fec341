"""The warm start before the first trial: each `spec.warmStart` source (resolved in plan.json) is
verified with `tunesweep evidence verify`'s own checks, checked to be compatible with this sweep
(`tunesweep_evidence.warm_start`), and its scored trials become points the searcher is told as
finished trials (`searcher.ObjectiveSearch`). A source that does not verify, or whose scores would
not transfer, refuses the sweep before anything runs (`WarmStartError`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from tunesweep_evidence import layout
from tunesweep_evidence.documents import EvalSet, Plan, SeededPoint, WarmStartRecord, WarmStartSourceRef
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_evidence.sweep_evidence import EvidenceReader, load_trials
from tunesweep_evidence.verify import verify
from tunesweep_evidence.warm_start import (
    INCOMPATIBLE,
    UNRESOLVED,
    UNVERIFIED,
    WarmStartError,
    incompatibilities,
    trial_point,
    unresolved_problem,
)

SHOWN_PROBLEMS = 3
"""A refusal names this many of a source's problems (`tunesweep evidence verify` lists them all)."""


@dataclass(frozen=True)
class WarmStart:
    records: list[WarmStartRecord]

    @property
    def points(self) -> list[SeededPoint]:
        return [seeded for record in self.records for seeded in record.seeded]

    def searcher_points(self) -> tuple[list[dict[str, Any]], list[float]]:
        """The points and their scores, as Ray's OptunaSearch takes them (points_to_evaluate,
        evaluated_rewards)."""
        return [p.params for p in self.points], [p.primary_score for p in self.points]


def warm_start(plan: Plan, spec: TuningSweepSpec, eval_set: EvalSet) -> WarmStart:
    """Every source verified, checked and turned into points; raises WarmStartError."""
    problem = unresolved_problem(spec, plan.warm_start)
    if problem is not None:
        raise WarmStartError(UNRESOLVED, problem)
    return WarmStart([_record(ref, spec, eval_set) for ref in plan.warm_start])


def _record(ref: WarmStartSourceRef, spec: TuningSweepSpec, eval_set: EvalSet) -> WarmStartRecord:
    uri = ref.evidence_uri
    report = verify(uri)
    if not report.ok:
        shown = "; ".join(report.problems[:SHOWN_PROBLEMS])
        more = len(report.problems) - SHOWN_PROBLEMS
        raise WarmStartError(UNVERIFIED, f"{uri}: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    reader = EvidenceReader(uri)
    source_plan = reader.document(layout.PLAN, Plan)
    if source_plan is None:  # verify names a sweep folder without plan.json; a trial folder is not one
        raise WarmStartError(UNVERIFIED, f"{uri}: no plan.json: not a sweep's evidence folder")
    try:
        source = TuningSweepSpec.model_validate(source_plan.spec)
    except ValidationError as error:
        raise WarmStartError(UNVERIFIED, f"{uri}: plan.json's spec: {error}") from None
    trials = load_trials(reader, source_plan.sweep.uid)
    judges = [trial.evaluation.judge for trial in trials if trial.evaluation is not None]
    source_eval_set = reader.document(layout.EVAL_SET, EvalSet, required=False)
    problems = incompatibilities(source, source_eval_set, judges, spec, eval_set)
    if problems:
        raise WarmStartError(INCOMPATIBLE, f"{uri}: {'; '.join(problems)}")
    record = WarmStartRecord(source=ref.source, evidence_uri=uri)
    for trial in sorted(trials, key=lambda t: t.trial_id):
        found = trial_point(trial, spec.search_space)
        if isinstance(found, SeededPoint):
            record.seeded.append(found)
        else:
            record.skipped.append(found)
    return record
