"""The primary score of an evaluation: the one number a sweep optimises and a promotion records.

    primary_score = mean over scorable rows of the row's correctness in 0..1, where a row's
    correctness is `metrics.answer_correctness` (0..1) when present, else a judge's `score`
    divided by its declared `scale` (`0..1` or `0..100`). Rows with neither are not scorable
    and do not count; no scorable rows gives None.

NaN, infinities, values outside their scale and undeclared or unknown scales are errors, never
silently dropped: a score that cannot be trusted must not pick the winner.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .documents import EvalRow

SCALES: dict[str, float] = {"0..1": 1.0, "0..100": 100.0}
"""Declared judge scales and the value each one's top end stands for."""


class ScoreError(ValueError):
    """An evaluation row, or a sweep's score, that cannot be turned into a trustworthy primary score."""


def primary_score(rows: Iterable[EvalRow | Mapping[str, Any]]) -> float | None:
    scores = [score for index, row in enumerate(rows) if (score := row_score(row, index)) is not None]
    return math.fsum(scores) / len(scores) if scores else None


def row_score(row: EvalRow | Mapping[str, Any], index: int = 0) -> float | None:
    """The row's correctness in 0..1, or None when it carries neither metric nor judge score."""
    fields = row.model_dump() if isinstance(row, EvalRow) else row
    row_id = fields.get("id") or f"#{index}"
    correctness = (fields.get("metrics") or {}).get("answer_correctness")
    if correctness is not None:
        return _checked(correctness, 1.0, row_id, "metrics.answer_correctness")
    score = fields.get("score")
    if score is None:
        return None
    scale = fields.get("scale")
    if scale not in SCALES:
        raise ScoreError(
            f"row {row_id!r}: score {score!r} has scale {scale!r}; declare one of {', '.join(SCALES)}"
        )
    return _checked(score, SCALES[scale], row_id, "score") / SCALES[scale]


def _checked(value: Any, top: float, row_id: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScoreError(f"row {row_id!r}: {field} is {value!r}, not a number")
    if not math.isfinite(value):
        raise ScoreError(f"row {row_id!r}: {field} is {value}, not a finite number")
    if not 0 <= value <= top:
        raise ScoreError(f"row {row_id!r}: {field} {value} is outside its scale 0..{top:g}")
    return float(value)


def require_score(score: float | None, mode: str) -> float | None:
    """The score, if `mode` accepts it: production needs a number, smoke accepts None."""
    if mode not in ("production", "smoke"):
        raise ValueError(f"unknown mode {mode!r}: expected production or smoke")
    if score is None and mode == "production":
        raise ScoreError(
            "production mode needs a primary score, but no evaluation row had "
            "metrics.answer_correctness or a judge score on a declared scale (smoke mode accepts none)"
        )
    return score
