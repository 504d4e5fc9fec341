"""A TuningSweep `searchSpace` as a Ray Tune param space.

Keys stay the spec's dotted paths into `baseConfig` (e.g. `training.learning_rate`), so a trial's
config is exactly its flat params and `fold_params` puts them back into the nested config. The
spec model has already refused what an algorithm cannot run (a grid under tpe, a continuous
distribution under grid, bad bounds).
"""

from __future__ import annotations

from typing import Any

from ray import tune
from tunesweep_evidence.placement import enumerated
from tunesweep_evidence.spec import SearchDimension, TuningSweepSpec


def param_space(spec: TuningSweepSpec) -> dict[str, Any]:
    return {path: dimension(dim, spec.algorithm.name) for path, dim in spec.search_space.items()}


def dimension(dim: SearchDimension, algorithm: str) -> Any:
    kind = dim.kind()
    values = list(dim.distributions()[kind] or [])
    if enumerated(kind, algorithm):
        return tune.grid_search(values)
    if kind == "choice":
        return tune.choice(values)
    low, high = values
    if kind == "loguniform":
        return tune.loguniform(low, high)
    if kind == "uniform":
        return tune.uniform(low, high)
    return tune.randint(low, high)  # high exclusive, as in the spec
