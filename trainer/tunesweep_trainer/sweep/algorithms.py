"""The spec's `algorithm` and `earlyStopping` as a Ray Tune search algorithm and scheduler, as the
plan's `search` says (`tunesweep_evidence.search_plan`).

`parallel` is enforced by the search algorithm itself (BasicVariantGenerator's max_concurrent, or
a ConcurrencyLimiter around Optuna): Tune ignores TuneConfig.max_concurrent_trials when it is
handed a ready-made BasicVariantGenerator.
"""

from __future__ import annotations

from ray.tune.schedulers import TrialScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchAlgorithm, Searcher
from tunesweep_evidence.documents import SearchPlan
from tunesweep_evidence.spec import TuningSweepSpec

from .pbt import population_based_training
from .plan import PlanError
from .rungs import RungScheduler
from .searcher import ObjectiveSearch
from .warm_start import WarmStart


def search_algorithm(
    spec: TuningSweepSpec, search: SearchPlan, warm: WarmStart | None = None
) -> SearchAlgorithm | Searcher:
    """`warm`: the points an earlier sweep scored, told to TPE (the spec allows warmStart with tpe only)."""
    seed, parallel = spec.algorithm.seed, spec.trials.parallel
    if spec.algorithm.name == "tpe":
        if search.random_startup_trials is None:
            raise PlanError("plan.json's search gives algorithm tpe no random_startup_trials")
        seeded, scores = warm.searcher_points() if warm is not None else ([], [])
        searcher = ObjectiveSearch(
            seed=seed, random_startup_trials=search.random_startup_trials, seeded=seeded, seeded_scores=scores
        )
        return ConcurrencyLimiter(searcher, max_concurrent=parallel)
    return BasicVariantGenerator(max_concurrent=parallel, random_state=seed)  # random, grid, pbt


def scheduler(spec: TuningSweepSpec, search: SearchPlan, root: str) -> TrialScheduler | None:
    """ASHA on the rung scores (`rungs`), its decisions kept under `root`; PBT on the rung scores
    (`pbt`); or None (Tune's FIFO: every trial runs to its end)."""
    if spec.algorithm.name == "pbt":
        return population_based_training(spec)
    if spec.early_stopping.name == "none":
        return None
    return RungScheduler(root, search.rung_steps, spec.early_stopping.reduction_factor)
