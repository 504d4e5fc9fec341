"""What one trial's evidence must agree with, re-derived from the plan: its config (the base config
with its params folded in), its params (inside the search space) and its metrics.jsonl (report
steps and learning rates that follow from its config). Pure: each returns the problems it finds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from .documents import MetricsLine
from .promotion import ConfigFoldError, fold_params, resolved_config
from .schedule import learning_rate_at
from .spec import SearchDimension
from .training_config import TrainingSection

LEARNING_RATE_TOLERANCE = 1e-5
"""Relative, and as much times the peak rate absolute: trainers compute the reported rate in
float32 (where `1 + cos` near the last step loses digits), verify in float64."""


def config_differences(actual: Mapping[str, Any], expected: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`path: what differs` for each leaf of two nested configs, compared path by path."""
    have, want = flat(actual), flat(expected)
    problems = []
    for path in sorted(want.keys() | have.keys()):
        if path not in have:
            problems.append(f"{prefix}{path} missing, expected {want[path]!r}")
        elif path not in want:
            problems.append(f"{prefix}{path} {have[path]!r} not expected")
        elif have[path] != want[path]:
            problems.append(f"{prefix}{path} {have[path]!r} != expected {want[path]!r}")
    return problems


def flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat(value, f"{path}."))
        else:
            out[path] = value
    return out


def manifest_config_problems(
    config: Mapping[str, Any], status: str, base_config: Mapping[str, Any], params: Mapping[str, Any]
) -> list[str]:
    """A trial's recorded config against plan.json's base config with its params folded in."""
    try:
        folded = fold_params(base_config, params)
    except ConfigFoldError as error:
        return [f"params: cannot be folded into plan.json's base config: {error}"]
    try:
        expected = resolved_config(folded)
    except ValidationError:
        # The trainer refuses an invalid config before training and records it as given.
        if status != "failed":
            return [f"status: {status}, but its params make an invalid config (only `failed` fits)"]
        expected = folded
    why = " (plan.json base config with params folded in)"
    return [problem + why for problem in config_differences(config, expected, "config.")]


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
    lines: Sequence[MetricsLine], training: TrainingSection, *, complete: bool
) -> list[tuple[int | None, str]]:
    """(line number or None, what is wrong) for metrics.jsonl against the trial's config.

    Reports come at every `report_every_steps` steps and at `max_steps`, each with the schedule's
    learning rate. A succeeded trial (`complete`) reported all of them; a stopped or failed one a
    prefix.
    """
    every, last = training.report_every_steps, training.max_steps
    count = math.ceil(last / every)
    source = "of run_manifest.json config"
    problems: list[tuple[int | None, str]] = []
    for number, line in enumerate(lines, start=1):
        expected = min(number * every, last) if number <= count else None
        if line.step != expected:
            shown = "none (past training.max_steps)" if expected is None else expected
            problems.append(
                (
                    number,
                    f"step {line.step} != expected {shown} (training.report_every_steps {every}, "
                    f"training.max_steps {last} {source})",
                )
            )
            return problems  # the following lines are off by the same shift
    if complete and len(lines) < count:
        problems.append(
            (
                None,
                f"{len(lines)} reports, but a succeeded trial reports {count} (every "
                f"training.report_every_steps {every} up to training.max_steps {last} {source})",
            )
        )
    wrong = [(number, line) for number, line in enumerate(lines, start=1) if not _scheduled(line, training)]
    if wrong:
        number, line = wrong[0]
        want = learning_rate_at(line.step - 1, training.learning_rate, training.warmup_steps, last)
        problems.append(
            (
                number,
                f"learning_rate {line.learning_rate!r} != schedule {want!r} at step {line.step} "
                f"(training.learning_rate {training.learning_rate!r}, warmup_steps {training.warmup_steps}, "
                f"max_steps {last} {source}); {len(wrong)} of {len(lines)} lines differ",
            )
        )
    return problems


def _scheduled(line: MetricsLine, training: TrainingSection) -> bool:
    if line.learning_rate is None:
        return False
    want = learning_rate_at(line.step - 1, training.learning_rate, training.warmup_steps, training.max_steps)
    tolerance = LEARNING_RATE_TOLERANCE
    return math.isclose(
        line.learning_rate, want, rel_tol=tolerance, abs_tol=tolerance * training.learning_rate
    )
