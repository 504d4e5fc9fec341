"""The spec's search space, algorithm and early stopping as Ray Tune objects (pure: no Ray runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from optuna.samplers import TPESampler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
from ray.tune.search.sample import Categorical, Float, Integer, LogUniform, Uniform
from tunesweep_evidence.placement import planned_trials
from tunesweep_evidence.search_plan import SearchPlanError, search_plan
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_trainer.sweep.algorithms import scheduler, search_algorithm
from tunesweep_trainer.sweep.rungs import RungScheduler
from tunesweep_trainer.sweep.search_space import param_space
from tunesweep_trainer.sweep.searcher import ObjectiveSearch

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
    random = spec(trials={"count": 4, "parallel": 3})
    generator = search_algorithm(random, search_plan(random))
    assert isinstance(generator, BasicVariantGenerator)
    assert generator.max_concurrent == 3


@pytest.mark.parametrize(("count", "startup"), [(1, 2), (8, 2), (12, 3), (40, 10), (400, 100)])
def test_tpe_is_seeded_optuna_with_startup_trials_sized_to_the_budget(count: int, startup: int) -> None:
    tpe = spec(algorithm={"name": "tpe", "seed": 7}, trials={"count": count, "parallel": 1})
    assert search_plan(tpe).random_startup_trials == startup
    limiter = search_algorithm(tpe, search_plan(tpe))
    assert isinstance(limiter, ConcurrencyLimiter) and limiter.max_concurrent == 1
    assert isinstance(limiter.searcher, ObjectiveSearch)
    assert (limiter.searcher.metric, limiter.searcher.mode) == ("primary_score", "max")
    sampler = limiter.searcher._sampler
    assert isinstance(sampler, TPESampler) and sampler._n_startup_trials == startup


def test_asha_cuts_on_rung_scores_at_the_planned_steps(tmp_path: Path) -> None:
    asha_spec = spec(
        earlyStopping={"name": "asha", "gracePeriod": 20, "reductionFactor": 3},
        searchSpace={"training.max_steps": {"choice": [60, 200]}},
    )
    assert search_plan(asha_spec).rung_steps == [20, 60, 180]  # below the longest trial, 200 steps
    assert isinstance(scheduler(asha_spec, search_plan(asha_spec), str(tmp_path)), RungScheduler)
    assert scheduler(spec(), search_plan(spec()), str(tmp_path)) is None
    assert search_plan(spec()).rung_steps == [] and search_plan(spec()).random_startup_trials is None


def test_a_grace_period_no_trial_reaches_is_refused() -> None:
    asha = spec(earlyStopping={"name": "asha", "gracePeriod": 50})
    longest = asha.model_copy(
        update={"early_stopping": asha.early_stopping.model_copy(update={"grace_period": 60})}
    )
    with pytest.raises(SearchPlanError, match=r"gracePeriod 60 is not below the longest trial \(60 steps"):
        search_plan(longest)
