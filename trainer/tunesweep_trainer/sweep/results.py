"""What a trial reports to Ray Tune.

The objective is `primary_score` (answer correctness on the eval set), known only once the trial
has been evaluated, at its end. Ray Tune checks strictly that every result carries the searcher's
and the scheduler's metric, so every result carries both: `primary_score` NaN (a float) until it
is known, `rung_score` NaN but at a rung step, where it was measured. Nothing decides on a NaN: the
searcher (`searcher.ObjectiveSearch`), the rung scheduler and the progress read only finite values,
and PBT reads the score only at its perturbation steps, which are rung steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..backend import RUNG_SCORE

OBJECTIVE = "primary_score"


def tune_result(report: Mapping[str, Any]) -> dict[str, Any]:
    """A trainer's report as a complete Tune result."""
    return {
        **report,
        OBJECTIVE: finite_or_nan(report.get(OBJECTIVE)),
        RUNG_SCORE: finite_or_nan(report.get(RUNG_SCORE)),
    }


def finite_or_nan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan
