"""A TuningSweep `searchSpace` as a Ray Tune param space.

Keys stay the spec's dotted paths into `baseConfig` (e.g. `training.learning_rate`), so a trial's
config is exactly its flat params and `fold_params` puts them back into the nested config.
"""

from __future__ import annotations

import math
from typing import Any

from ray import tune
from tunesweep_evidence.spec import SearchDimension, TuningSweepSpec

from .plan import PlanError


class SearchSpaceError(PlanError):
    """A search space, algorithm or early stopping that the driver cannot run."""


def param_space(spec: TuningSweepSpec) -> dict[str, Any]:
    algorithm = spec.algorithm.name
    if algorithm not in ("random", "grid", "tpe"):
        raise SearchSpaceError(f"algorithm {algorithm!r} is not supported: use random, grid or tpe")
    return {path: dimension(path, dim, algorithm) for path, dim in spec.search_space.items()}


def dimension(path: str, dim: SearchDimension, algorithm: str) -> Any:
    kind, values = _only_distribution(path, dim)
    if algorithm == "tpe" and kind == "grid":
        raise SearchSpaceError(f"{path}: tpe (Optuna) cannot enumerate a grid; use choice, or algorithm grid")
    if algorithm == "grid" and kind in ("loguniform", "uniform", "randint"):
        raise SearchSpaceError(
            f"{path}: algorithm grid enumerates values, but {kind} is continuous; use grid or choice"
        )
    if kind == "grid" or (kind == "choice" and algorithm == "grid"):
        return tune.grid_search(list(values))
    if kind == "choice":
        return tune.choice(list(values))
    low, high = _bounds(path, kind, values)
    if kind == "loguniform":
        return tune.loguniform(low, high)
    if kind == "uniform":
        return tune.uniform(low, high)
    return tune.randint(int(low), int(high))


def total_trials(spec: TuningSweepSpec) -> int:
    """Trials Ray Tune will create: `count` samples, each a full pass over the grid (if any)."""
    grid_size = math.prod(
        len(values)
        for path, dim in spec.search_space.items()
        for kind, values in [_only_distribution(path, dim)]
        if kind == "grid" or (kind == "choice" and spec.algorithm.name == "grid")
    )
    return spec.trials.count * grid_size


def _only_distribution(path: str, dim: SearchDimension) -> tuple[str, list[Any]]:
    given = [(kind, values) for kind, values in dim.model_dump().items() if values is not None]
    if len(given) != 1:
        names = ", ".join(kind for kind, _ in given) or "none"
        raise SearchSpaceError(
            f"{path}: give exactly one of loguniform, uniform, randint, choice, grid (got {names})"
        )
    kind, values = given[0]
    if not values:
        raise SearchSpaceError(f"{path}: {kind} needs at least one value")
    return kind, values


def _bounds(path: str, kind: str, values: list[Any]) -> tuple[float, float]:
    if len(values) != 2:
        raise SearchSpaceError(f"{path}: {kind} takes [low, high], got {values}")
    low, high = values
    if not low < high:
        raise SearchSpaceError(f"{path}: {kind} needs low < high, got {values}")
    if kind == "loguniform" and low <= 0:
        raise SearchSpaceError(f"{path}: loguniform needs low > 0, got {values}")
    return low, high
