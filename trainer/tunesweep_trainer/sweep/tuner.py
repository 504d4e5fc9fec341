"""A Ray Tune Tuner for a plan: a new experiment, or the one already under `<evidence>/ray/`.

Restoring never re-runs a finished trial: Tune skips TERMINATED trials, errored ones stay failed
(resume_errored/restart_errored off, so they keep counting against maxFailed), and trials that
were running when the driver died start again from their newest checkpoint (`checkpointing`).
Within a run, a trial whose process or node is lost is started again the same way, up to
`trials.maxRestarts` times (`failures.TrainerErrors` keeps the trainer's own errors from it). The
rung scheduler goes on from the decisions in rung_decisions.json (`rungs`). The trainable also
refuses to re-run a trial whose evidence already says it finished, which covers
a driver killed before Tune's experiment snapshot caught up. spec.budget's hooks (`budget`) come
back with the experiment, their ledger restored from Tune's callback state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray import tune
from ray.tune.experiment import Trial
from tunesweep_evidence.documents import ObjectiveRecord, Plan, SearchPlan
from tunesweep_evidence.search_plan import planned_search
from tunesweep_evidence.spec import TuningSweepSpec

from ..backend import Program
from ..checkpointing import CheckpointPolicy
from .algorithms import scheduler, search_algorithm
from .budget import BudgetHooks
from .failures import FailureBudget, TrainerErrors
from .placement import Placement
from .progress import SweepProgress
from .ray_storage import ray_storage
from .resources import trial_resources
from .search_space import param_space
from .trainable import TrialJob, train_trial
from .warm_start import WarmStart

REUSE_TRIAL_PROCESSES = True
"""A finished or cut trial's process runs the next trial: no process start and no imports (seconds
per trial). A cut trial ends its thread as Tune expects (`train_trial`), so its process can be reset.
`bench.sweep_bench` turns it off to measure what it saves."""


def tuner_for(
    plan: Plan, spec: TuningSweepSpec, placement: Placement, warm: WarmStart | None = None
) -> tune.Tuner:
    """`warm`: the warm start's points (a restored experiment has them in its searcher already)."""
    storage = ray_storage(plan.evidence_uri)
    search = planned_search(plan, spec)
    trainable = _trainable(plan, spec, search, placement)
    if tune.Tuner.can_restore(storage.experiment_path, storage_filesystem=storage.filesystem):
        return tune.Tuner.restore(
            storage.experiment_path,
            trainable,
            resume_unfinished=True,
            resume_errored=False,
            restart_errored=False,
            storage_filesystem=storage.filesystem,
        )
    objective = ObjectiveRecord.model_validate(spec.objective.model_dump())
    budget = FailureBudget(spec.trials.max_failed)
    spend = BudgetHooks.of(spec)
    return tune.Tuner(
        trainable,
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(
            search_alg=spend.search(search_algorithm(spec, search, warm)),
            scheduler=scheduler(spec, search, plan.evidence_uri),
            num_samples=spec.trials.count,
            trial_dirname_creator=trial_dirname,
            reuse_actors=REUSE_TRIAL_PROCESSES,
        ),
        run_config=tune.RunConfig(
            name=storage.name,
            storage_path=storage.storage_path,
            storage_filesystem=storage.filesystem,
            callbacks=[
                *spend.callbacks(),
                SweepProgress(plan, objective, spec.mode.value, warm.records if warm else None, spend.ledger),
                budget,
                TrainerErrors(plan.evidence_uri),
            ],
            stop=spend.stopper(budget.stopper()),
            failure_config=tune.FailureConfig(max_failures=spec.trials.max_restarts),
            verbose=0,
        ),
    )


def _trainable(
    plan: Plan, spec: TuningSweepSpec, search: SearchPlan, placement: Placement
) -> Callable[..., Any]:
    job = TrialJob(
        root=plan.evidence_uri,
        sweep_uid=plan.sweep.uid,
        image=plan.image,
        backend=spec.trainer.backend,
        program=Program(spec.trainer.entrypoint, tuple(spec.trainer.command or ())),
        base_config=spec.trainer.base_config,
        mode=spec.mode.value,
        timeout_s=spec.trials.timeout_seconds,
        rung_steps=tuple(search.rung_steps),
        checkpoints=CheckpointPolicy(
            spec.trials.checkpoints.keep,
            spec.trials.checkpoints.every_steps,
            # PBT's decision points: another trial may go on from these, at any later time
            frozenset(search.rung_steps) if spec.algorithm.name == "pbt" else frozenset(),
        ),
    )
    resources = trial_resources(
        spec.resources.per_trial, max_cpu=placement.max_cpu_per_trial, accelerators=placement.accelerators
    )
    return tune.with_resources(tune.with_parameters(train_trial, job=job), resources)


def trial_dirname(trial: Trial) -> str:
    """Tune's own folder per trial: its id, like the evidence folder (the default name carries
    every param and grows long)."""
    return trial.trial_id
