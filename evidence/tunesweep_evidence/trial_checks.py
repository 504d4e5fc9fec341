"""What one trial's evidence must agree with, re-derived from the plan: its config (the base config
with its params folded in, `trial_config.py`), its params (inside the search space) and its
metrics.jsonl (report steps, rung scores and learning rates that follow from its config and the
sweep's rungs). Pure: each returns the problems it finds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from .documents import MetricsLine
from .schedule import learning_rate_at
from .spec import SearchDimension
from .training_config import CustomTraining, TrainingSection
from .wording import counted

LEARNING_RATE_TOLERANCE = 1e-5
"""Relative, and as much times the peak rate absolute: trainers compute the reported rate in
float32 (where `1 + cos` near the last step loses digits), verify in float64."""


def search_space_problems(params: Mapping[str, Any], space: Mapping[str, SearchDimension]) -> list[str]:
    """Each param must be a dimension of spec.searchSpace and lie inside it, and each dimension
    must be sampled."""
    problems = [
        f"params.{path}: missing (a dimension of plan.json spec.searchSpace)"
        for path in space
        if path not in params
    ]
    for path, value in params.items():
        dimension = space.get(path)
        if dimension is None:
            problems.append(f"params.{path}: {value!r} is not a dimension of plan.json spec.searchSpace")
        elif not _inside(value, dimension):
            kind = dimension.kind()
            problems.append(
                f"params.{path}: {value!r} is outside plan.json spec.searchSpace.{path} "
                f"{kind} {dimension.distributions()[kind]}"
            )
    return problems


def _inside(value: Any, dimension: SearchDimension) -> bool:
    kind = dimension.kind()
    values = dimension.distributions()[kind] or []
    if kind in ("choice", "grid"):
        return any(_same_value(value, candidate) for candidate in values)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    low, high = values
    if kind == "randint":  # [low, high): an integer, high exclusive
        return float(value).is_integer() and low <= value < high
    return low <= value <= high


def _same_value(value: Any, candidate: Any) -> bool:
    # JSON numbers compare by value (1 == 1.0), but a boolean is not the number 1.
    return value == candidate and isinstance(value, bool) == isinstance(candidate, bool)


def metrics_problems(
    lines: Sequence[MetricsLine],
    training: TrainingSection | CustomTraining,
    rung_steps: Collection[int],
    *,
    complete: bool,
    training_at: Callable[[int], TrainingSection | CustomTraining] | None = None,
) -> list[tuple[int | None, str]]:
    """(line number or None, what is wrong) for metrics.jsonl against the trial's config and the
    sweep's rung steps (plan.json `search.rung_steps`).

    Reports come at every `report_every_steps` steps, at each rung step and at `max_steps`, each
    with the schedule's learning rate (a built-in trainer's: a custom trainer's schedule is its
    own); those at a rung step, and only those, carry a `rung_score`.
    A succeeded trial (`complete`) reported all of them; a stopped or failed one a prefix.
    `training_at(step)`: the training a line's step was trained with, where it changed along the
    way (PBT's segments, `lineage.config_at`); else `training` throughout.
    """
    every, last = training.report_every_steps, training.max_steps
    steps = report_steps(training, rung_steps)
    source = "of run_manifest.json config"
    rungs = f"rung steps {sorted(rung_steps)}" if rung_steps else "no rung steps"
    at_rungs = f"; {rungs}" if rung_steps else ""
    problems: list[tuple[int | None, str]] = []
    for number, line in enumerate(lines, start=1):
        expected = steps[number - 1] if number <= len(steps) else None
        if line.step != expected:
            shown = "none (past training.max_steps)" if expected is None else expected
            problems.append(
                (
                    number,
                    f"step {line.step} != expected {shown} (training.report_every_steps {every}, "
                    f"training.max_steps {last} {source}{at_rungs})",
                )
            )
            return problems  # the following lines are off by the same shift
    if complete and len(lines) < len(steps):
        problems.append(
            (
                None,
                f"{counted(len(lines), 'report')}, but a succeeded trial reports {len(steps)} (every "
                f"training.report_every_steps {every} up to training.max_steps {last} {source}"
                f"{at_rungs})",
            )
        )
    for number, line in enumerate(lines, start=1):
        if (line.rung_score is not None) != (line.step in rung_steps):
            what = "a rung_score" if line.rung_score is not None else "no rung_score"
            kind = "a rung step" if line.step in rung_steps else "no rung step"
            problems.append((number, f"{what} at step {line.step}, {kind} ({rungs})"))
    if not isinstance(training, TrainingSection):
        return problems
    at = training_at or (lambda step: training)
    trained = [(number, line, at(line.step)) for number, line in enumerate(lines, start=1)]
    wrong = [(n, ln, t) for n, ln, t in trained if isinstance(t, TrainingSection) and not _scheduled(ln, t)]
    if wrong:
        number, line, used = wrong[0]
        want = learning_rate_at(line.step - 1, used.learning_rate, used.warmup_steps, last)
        problems.append(
            (
                number,
                f"learning_rate {line.learning_rate!r} != schedule {want!r} at step {line.step} "
                f"(training.learning_rate {used.learning_rate!r}, warmup_steps {used.warmup_steps}, "
                f"max_steps {last} {source}); lines that differ: {len(wrong)} of {len(lines)}",
            )
        )
    return problems


def report_steps(training: TrainingSection | CustomTraining, rung_steps: Collection[int]) -> list[int]:
    """The steps a trial reports at, in order: every report_every_steps, each rung it reaches, and
    its last step."""
    every, last = training.report_every_steps, training.max_steps
    return sorted({*range(every, last, every), *(step for step in rung_steps if step < last), last})


def _scheduled(line: MetricsLine, training: TrainingSection) -> bool:
    if line.learning_rate is None:
        return False
    want = learning_rate_at(line.step - 1, training.learning_rate, training.warmup_steps, training.max_steps)
    tolerance = LEARNING_RATE_TOLERANCE
    return math.isclose(
        line.learning_rate, want, rel_tol=tolerance, abs_tol=tolerance * training.learning_rate
    )
