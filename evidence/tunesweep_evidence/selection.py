"""Which trial is the best one: a pure, deterministic rule shared by the sweep driver, the operator and
`tunesweep evidence verify`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, Protocol, TypeVar

SCORED_STATES = frozenset({"succeeded", "early_stopped"})
"""States whose score counts: an early-stopped trial's score is a real (if shorter) measurement."""


class TrialLike(Protocol):
    @property
    def trial_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def primary_score(self) -> float | None: ...
    @property
    def finished_at(self) -> str | None: ...


Trial = TypeVar("Trial", bound=TrialLike)


def promotes_unscored(mode: str, min_score: float | None) -> bool:
    """Smoke mode may promote a null score, unless a minimum score asks for a real one."""
    return mode == "smoke" and min_score is None


def best_trial(
    trials: Iterable[Trial], mode: Literal["max", "min"], *, allow_unscored: bool = False
) -> Trial | None:
    """The best trial, or None when no trial is eligible.

    Eligible: status `succeeded` or `early_stopped` with a finite primary score (failed, still
    running and unscored trials never win). Best: the highest score (`mode="max"`) or the lowest
    (`mode="min"`); equal scores go to the trial that finished first (a missing `finished_at`
    counts as last), then to the smallest `trial_id` (string order).

    `allow_unscored` (smoke mode, which may end without any score): when no trial is eligible, the
    first `succeeded` trial in the same tie order wins with its null score.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"unknown objective mode {mode!r}: expected max or min")
    trials = list(trials)
    scored = [
        (score, t)
        for t in trials
        if t.status in SCORED_STATES and (score := t.primary_score) is not None and math.isfinite(score)
    ]
    if scored:
        sign = -1.0 if mode == "max" else 1.0
        return min(scored, key=lambda pair: (sign * pair[0], *_tie_order(pair[1])))[1]
    succeeded = [t for t in trials if t.status == "succeeded"]
    return min(succeeded, key=_tie_order) if allow_unscored and succeeded else None


def _tie_order(trial: TrialLike) -> tuple[bool, datetime, str]:
    finished = _parse_time(trial.finished_at, trial.trial_id) if trial.finished_at else None
    return (finished is None, finished or datetime.min.replace(tzinfo=UTC), trial.trial_id)


def _parse_time(value: str, trial_id: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"trial {trial_id!r}: finished_at {value!r} is not an ISO 8601 timestamp") from None
    # A timestamp without an offset is taken as UTC so that it compares with offset-aware ones.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
