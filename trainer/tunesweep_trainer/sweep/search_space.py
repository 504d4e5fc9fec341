"""A TuningSweep `searchSpace` as a Ray Tune param space.

Keys stay the spec's dotted paths into `baseConfig` (e.g. `training.learning_rate`), so a trial's
config is exactly its flat params and `fold_params` puts them back into the nested config. The
spec model has already refused what an algorithm cannot run (a grid under tpe, a continuous
distribution under grid, bad bounds).
"""

from __future__ import annotations

import math
from typing import Any

from ray import tune
from tunesweep_evidence.spec import SearchDimension, TuningSweepSpec


def param_space(spec: TuningSweepSpec) -> dict[str, Any]:
    return {path: dimension(dim, spec.algorithm.name) for path, dim in spec.search_space.items()}


def dimension(dim: SearchDimension, algorithm: str) -> Any:
    kind = dim.kind()
    values = list(dim.distributions()[kind] or [])
    if _enumerated(kind, algorithm):
        return tune.grid_search(values)
    if kind == "choice":
        return tune.choice(values)
    low, high = values
    if kind == "loguniform":
        return tune.loguniform(low, high)
    if kind == "uniform":
        return tune.uniform(low, high)
    return tune.randint(low, high)  # high exclusive, as in the spec


def total_trials(spec: TuningSweepSpec) -> int:
    """Trials Ray Tune will create: `count` samples, each a full pass over the grid (if any)."""
    grid_size = math.prod(
        len(dim.distributions()[dim.kind()] or [])
        for dim in spec.search_space.values()
        if _enumerated(dim.kind(), spec.algorithm.name)
    )
    return spec.trials.count * grid_size


def _enumerated(kind: str, algorithm: str) -> bool:
    """grid values always; choice values too under algorithm grid (every combination)."""
    return kind == "grid" or (kind == "choice" and algorithm == "grid")
