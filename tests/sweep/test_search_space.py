"""The spec's search space, algorithm and early stopping as Ray Tune objects (pure: no Ray runtime)."""

from __future__ import annotations

from typing import Any

import pytest
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.sample import Categorical, Float, Integer, LogUniform, Uniform
from tunesweep_evidence.placement import planned_trials
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_trainer.sweep.algorithms import max_reports, scheduler, search_algorithm
from tunesweep_trainer.sweep.plan import PlanError
from tunesweep_trainer.sweep.search_space import param_space

from tests.sweep.sweeps import sweep_manifest


def spec(**fields: Any) -> TuningSweepSpec:
    return TuningSweepSpec.model_validate(sweep_manifest(**fields)["spec"])


def test_every_distribution_becomes_its_ray_tune_domain() -> None:
    space = param_space(
        spec(
            searchSpace={
                "training.learning_rate": {"loguniform": [1.0e-5, 1.0e-2]},
                "training.weight_decay": {"uniform": [0.0, 0.1]},
                "training.warmup_steps": {"randint": [0, 20]},
                "training.per_device_batch_size": {"choice": [2, 4, 8]},
                "training.max_steps": {"grid": [50, 100]},
            }
        )
    )
    lr, decay, warmup = (
        space["training.learning_rate"],
        space["training.weight_decay"],
        space["training.warmup_steps"],
    )
    assert isinstance(lr, Float) and isinstance(lr.get_sampler(), LogUniform)
    assert (lr.lower, lr.upper) == (1.0e-5, 1.0e-2)
    assert isinstance(decay, Float) and isinstance(decay.get_sampler(), Uniform)
    assert (decay.lower, decay.upper) == (0.0, 0.1)
    assert isinstance(warmup, Integer) and (warmup.lower, warmup.upper) == (0, 20)  # upper exclusive
    batch = space["training.per_device_batch_size"]
    assert isinstance(batch, Categorical) and batch.categories == [2, 4, 8]
    assert space["training.max_steps"] == {"grid_search": [50, 100]}


def test_grid_algorithm_enumerates_choices_and_counts_repeats() -> None:
    grid = spec(
        algorithm={"name": "grid", "seed": 0},
        searchSpace={
            "training.per_device_batch_size": {"choice": [2, 4]},
            "training.max_steps": {"grid": [5, 6, 7]},
        },
        trials={"count": 2, "parallel": 1},
    )
    assert param_space(grid)["training.per_device_batch_size"] == {"grid_search": [2, 4]}
    assert planned_trials(grid) == 2 * 2 * 3
    random = spec(searchSpace={"training.max_steps": {"grid": [5, 6, 7]}}, trials={"count": 2})
    assert planned_trials(random) == 2 * 3


def test_random_and_grid_use_a_seeded_generator_limited_to_parallel() -> None:
    generator = search_algorithm(spec(trials={"count": 4, "parallel": 3}))
    assert isinstance(generator, BasicVariantGenerator)
    assert generator.max_concurrent == 3


def test_tpe_is_seeded_optuna_inside_a_concurrency_limiter() -> None:
    limiter = search_algorithm(spec(algorithm={"name": "tpe", "seed": 7}, trials={"count": 4, "parallel": 2}))
    assert isinstance(limiter, ConcurrencyLimiter) and limiter.max_concurrent == 2
    assert isinstance(limiter.searcher, OptunaSearch)
    assert (limiter.searcher.metric, limiter.searcher.mode) == ("primary_score", "max")
    assert limiter.searcher._seed == 7


def test_asha_ranks_on_training_loss_with_rungs_from_the_report_budget() -> None:
    asha_spec = spec(
        earlyStopping={"name": "asha", "gracePeriod": 2, "reductionFactor": 3},
        searchSpace={"training.max_steps": {"choice": [60, 200]}},
    )
    asha = scheduler(asha_spec)
    assert isinstance(asha, ASHAScheduler)
    assert (asha.metric, asha._mode, asha._max_t) == ("loss", "min", 200 // 10 + 2)
    assert max_reports(asha_spec) == 200 // 10 + 2  # report_every_steps 10 in the base config
    assert scheduler(spec()) is None


def test_a_grace_period_beyond_the_reports_is_refused() -> None:
    with pytest.raises(PlanError, match="gracePeriod 100 is more reports than a trial makes"):
        scheduler(spec(earlyStopping={"name": "asha", "gracePeriod": 100}))
