"""How a sweep searches, derived once from its spec and frozen into plan.json (`Plan.search`).

- `rung_steps`: ASHA's rungs in optimizer steps, gracePeriod * reductionFactor^k below the largest
  max_steps any trial can train, exactly where Ray's ASHAScheduler places them for
  time_attr=step, grace_period=gracePeriod, max_t=largest max_steps. A trial scores its rung slice
  at each of them, and the scheduler ranks trials on that score. Under PBT: every
  perturbationInterval steps, where PBT ranks the trials on that score and exploits.
- `random_startup_trials`: TPE samples this many trials at random before it models good and bad
  ones, max(2, count // 4): Optuna's default of 10 would make a sweep of 10 trials or fewer
  pure random search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .documents import Plan, SearchPlan
from .training_config import config_model
from .wording import counted

if TYPE_CHECKING:
    from .spec import TuningSweepSpec


class SearchPlanError(ValueError):
    """A spec whose search cannot be planned (the message names the field and the fix)."""


def search_plan(spec: TuningSweepSpec) -> SearchPlan:
    return SearchPlan(
        rung_steps=rung_steps(spec),
        random_startup_trials=max(2, spec.trials.count // 4) if spec.algorithm.name == "tpe" else None,
    )


def planned_search(plan: Plan, spec: TuningSweepSpec) -> SearchPlan:
    """The search as plan.json froze it, or derived from its (validated) spec for a plan written
    before the search was planned."""
    return plan.search if plan.search is not None else search_plan(spec)


def rung_steps(spec: TuningSweepSpec) -> list[int]:
    if spec.algorithm.name == "pbt":
        return perturbation_steps(spec)
    stopping = spec.early_stopping
    if stopping.name == "none":
        return []
    longest = largest_max_steps(spec)
    if stopping.grace_period >= longest:
        raise SearchPlanError(
            f"earlyStopping.gracePeriod {stopping.grace_period} is not below the longest trial "
            f"({counted(longest, 'step')}, training.max_steps), so no trial would ever reach a rung; lower it"
        )
    steps, step = [], stopping.grace_period
    while step < longest:
        steps.append(step)
        step *= stopping.reduction_factor
    return steps


def perturbation_steps(spec: TuningSweepSpec) -> list[int]:
    """PBT's decision points: every perturbationInterval steps below the longest trial."""
    interval, longest = spec.algorithm.perturbation_interval, largest_max_steps(spec)
    if interval >= longest:
        raise SearchPlanError(
            f"algorithm.perturbationInterval {interval} is not below the longest trial "
            f"({counted(longest, 'step')}, training.max_steps), so no trial would ever be perturbed; lower it"
        )
    return list(range(interval, longest, interval))


def largest_max_steps(spec: TuningSweepSpec) -> int:
    """The most optimizer steps any trial of the sweep can train."""
    training = {"training": spec.trainer.base_config.get("training", {})}
    base = config_model(spec.trainer.backend).model_validate(training).training
    return int(max([base.max_steps, *_values(spec, "training.max_steps")]))


def _values(spec: TuningSweepSpec, path: str) -> list[Any]:
    dim = spec.search_space.get(path)
    if dim is None:
        return []
    if dim.randint is not None:
        return [dim.randint[0], dim.randint[1] - 1]
    return list(dim.loguniform or dim.uniform or dim.choice or dim.grid or [])
