"""Population Based Training on the objective: Ray Tune's PopulationBasedTraining, synchronous.

Every `algorithm.perturbationInterval` steps (the plan's `search.rung_steps`) each trial scores
its rung slice and saves a checkpoint it offers Tune (`trainable._pointer`). Once every trial has
reached that step, the bottom `quantileFraction` go on from the checkpoint of one in the top, with
its params perturbed (each multiplied by 0.8 or 1.2, or drawn anew with `resampleProbability`),
kept within searchSpace's bounds. Synchronous, so a trial always exploits a checkpoint of the very
step it stands at: its own reports up to there stay its history. The trial records each stretch
it trained with one set of params (run_manifest.json `segments`, see `checkpointing`).
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import PopulationBasedTraining
from tunesweep_evidence.spec import SearchDimension, TuningSweepSpec

from ..backend import RUNG_SCORE
from .search_space import param_space


def population_based_training(spec: TuningSweepSpec) -> PopulationBasedTraining:
    algorithm = spec.algorithm
    return PopulationBasedTraining(
        time_attr="step",
        metric=RUNG_SCORE,
        mode="max",
        perturbation_interval=algorithm.perturbation_interval,
        hyperparam_mutations=param_space(spec),
        quantile_fraction=algorithm.quantile_fraction,
        resample_probability=algorithm.resample_probability,
        custom_explore_fn=lambda config: within_bounds(config, spec.search_space),
        synch=True,
        # reports between perturbation steps carry no rung score: they are not decisions
        require_attrs=False,
    )


def within_bounds(config: dict[str, Any], space: dict[str, SearchDimension]) -> dict[str, Any]:
    """`config` with each perturbed continuous param brought back inside its searchSpace bounds."""
    out = dict(config)
    for path, dim in space.items():
        kind = dim.kind()
        if path not in out or kind not in ("loguniform", "uniform", "randint"):
            continue
        low, high = dim.distributions()[kind] or (out[path], out[path])
        if kind == "randint":
            out[path] = int(min(max(round(out[path]), low), high - 1))  # high exclusive
        else:
            out[path] = float(min(max(out[path], low), high))
    return out
