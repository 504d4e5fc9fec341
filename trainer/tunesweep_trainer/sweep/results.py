"""What a trial reports to Ray Tune.

The objective is `primary_score` (answer correctness on the eval set), known only once the trial
has been evaluated, at its end. Ray Tune checks strictly that every result carries the searcher's
metric, so every result carries it: NaN (a float) until it is known. The searcher never hears
that NaN (`searcher.ObjectiveSearch` reads only finite values); the rung scheduler reads
`rung_score`, which a result carries only at a rung step, where it was measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

OBJECTIVE = "primary_score"


def tune_result(report: Mapping[str, Any]) -> dict[str, Any]:
    """A trainer's report as a complete Tune result."""
    return {**report, OBJECTIVE: finite_or_nan(report.get(OBJECTIVE))}


def finite_or_nan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan
