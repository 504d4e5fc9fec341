"""The spec's `algorithm` and `earlyStopping` as a Ray Tune search algorithm and scheduler.

`parallel` is enforced by the search algorithm itself (BasicVariantGenerator's max_concurrent, or
a ConcurrencyLimiter around Optuna): Tune ignores TuneConfig.max_concurrent_trials when it is
handed a ready-made BasicVariantGenerator.
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchAlgorithm, Searcher
from ray.tune.search.optuna import OptunaSearch
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_evidence.training_config import TrainingSection

from .plan import PlanError
from .results import SCHEDULER_METRIC, SCHEDULER_MODE

_REPORTS_AFTER_TRAINING = 2
"""Reports beyond one per `report_every_steps`: the last training step and the evaluation."""


def search_algorithm(spec: TuningSweepSpec) -> SearchAlgorithm | Searcher:
    seed, parallel = spec.algorithm.seed, spec.trials.parallel
    if spec.algorithm.name == "tpe":
        optuna = OptunaSearch(metric=spec.objective.metric, mode=spec.objective.mode, seed=seed)
        return ConcurrencyLimiter(optuna, max_concurrent=parallel)
    return BasicVariantGenerator(max_concurrent=parallel, random_state=seed)  # random, grid


def scheduler(spec: TuningSweepSpec) -> TrialScheduler | None:
    """ASHA on the training loss (see `results`), or None (Tune's FIFO: every trial runs to its end)."""
    stopping = spec.early_stopping
    if stopping.name == "none":
        return None
    max_t = max_reports(spec)
    if stopping.grace_period > max_t:
        raise PlanError(
            f"earlyStopping.gracePeriod {stopping.grace_period} is more reports than a trial makes "
            f"(at most {max_t}: max_steps / report_every_steps); lower it"
        )
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=SCHEDULER_METRIC,
        mode=SCHEDULER_MODE,
        max_t=max_t,
        grace_period=stopping.grace_period,
        reduction_factor=stopping.reduction_factor,
        # max_t only places the rungs; stopping at max_t would cut a trial before its evaluation.
        stop_last_trials=False,
    )


def max_reports(spec: TuningSweepSpec) -> int:
    """The most Tune results any trial of the sweep can report."""
    base = TrainingSection.model_validate(spec.trainer.base_config.get("training", {}))
    max_steps = _largest(spec, "training.max_steps", base.max_steps)
    every = _smallest(spec, "training.report_every_steps", base.report_every_steps)
    return math.ceil(max_steps / every) + _REPORTS_AFTER_TRAINING


def _values(spec: TuningSweepSpec, path: str) -> list[Any]:
    dim = spec.search_space.get(path)
    if dim is None:
        return []
    if dim.randint is not None:
        return [dim.randint[0], dim.randint[1] - 1]
    return list(dim.loguniform or dim.uniform or dim.choice or dim.grid or [])


def _largest(spec: TuningSweepSpec, path: str, default: int) -> int:
    return int(max([default, *_values(spec, path)]))


def _smallest(spec: TuningSweepSpec, path: str, default: int) -> int:
    return max(1, int(min([default, *_values(spec, path)])))
