"""How a finished sweep ended: a pure decision over its trial records.

Reasons start with a CamelCase code (what the operator puts in its condition) and go on with
what happened, e.g. `TooManyFailedTrials: 3 trials failed, more than trials.maxFailed=2 ...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tunesweep_evidence.documents import TrialRecord
from tunesweep_evidence.selection import SCORED_STATES
from tunesweep_evidence.wording import counted

_ERROR_CHARS = 300


@dataclass(frozen=True)
class Conclusion:
    status: Literal["succeeded", "failed"]
    reason: str = ""
    promote: bool = True


def conclude(records: Sequence[TrialRecord], *, mode: str, max_failed: int, ended_by: str = "") -> Conclusion:
    """`ended_by`: why spec.budget stopped the search early (`BudgetSpent: ...`), a normal end: the
    sweep still succeeds with a scored trial, and says so."""
    failed = [record for record in records if record.status == "failed"]
    if len(failed) > max_failed:
        first = failed[0]
        return Conclusion(
            "failed",
            f"TooManyFailedTrials: {len(failed)} of {counted(len(records), 'trial')} failed, more than "
            f"trials.maxFailed={max_failed}; trial {first.trial_id}: {_short(first.error)}",
            promote=False,
        )
    scored = [r for r in records if r.status in SCORED_STATES and r.primary_score is not None]
    if scored:
        return Conclusion("succeeded", ended_by)
    what = f"none of {counted(len(records), 'trial')} has a primary score ({len(failed)} failed)"
    if mode == "production":
        return Conclusion("failed", f"NoScoredTrial: {what}; production mode needs one", promote=False)
    # Smoke mode checks the pipeline, not the model: it ends well, saying what it did not find.
    return Conclusion("succeeded", f"NoScoredTrial: {what}; smoke mode accepts that")


def _short(error: str | None) -> str:
    if not error:
        return "no error recorded"
    return error if len(error) <= _ERROR_CHARS else error[: _ERROR_CHARS - 3] + "..."
