"""What a trial reports to Ray Tune.

The searcher optimises the objective (`primary_score`), which exists only once the trial has been
evaluated, at its end. ASHA must rank trials while they train, so it ranks them on the training
`loss` (mode min), which every training report carries. Ray Tune checks strictly that every
result carries the metric of the searcher and of the scheduler, and Optuna reads the searcher's
metric from every result, so every result carries both: a metric not known yet is NaN (a float,
which Optuna and ASHA accept and ignore in their rankings), never None or missing. The last
known loss is carried into the final (evaluation) result, so ASHA also sees the trial's end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SCHEDULER_METRIC = "loss"
SCHEDULER_MODE = "min"


class ResultStream:
    """Turns the trainer's report dicts into complete Tune results, one trial at a time."""

    def __init__(self, objective_metric: str) -> None:
        self._known: dict[str, float] = {SCHEDULER_METRIC: math.nan, objective_metric: math.nan}

    def result(self, report: Mapping[str, Any]) -> dict[str, Any]:
        for metric in self._known:
            if metric in report:
                self._known[metric] = finite_or_nan(report[metric])
        return {**report, **self._known}


def finite_or_nan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan
