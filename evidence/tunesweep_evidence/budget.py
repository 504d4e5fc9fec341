"""`spec.budget`: what a sweep may spend, as pure arithmetic (no Ray, no JAX).

A trial costs its rate (units per hour it holds its resources) times the hours it held them, from
its start to its end, whatever its end: a failed or cut trial spent its share too. The unit follows
the accelerator: GPU-hours, TPU chip-hours, or CPU core-hours for CPU sweeps, where the rate is the
Kubernetes CPU request (`500m` is half a core), not Ray's whole-CPU rounding of it.

The driver starts a trial only while spent (ended trials) + the projected rest of the running ones
+ the estimate of one more trial fits the limit (`decide`), and cuts the running ones at their next
report once the spend, running trials included, reaches it (`exhausted`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from .documents import RunManifest, SweepBudget, TrialRecord
from .placement import RAY_GPU, RAY_TPU, trial_request
from .quantity import cpu_cores
from .training_config import config_model
from .trial_config import fold_params
from .wording import counted

if TYPE_CHECKING:  # spec.py reaches this module through placement
    from .spec import PerTrialResources, TuningSweepSpec

SECONDS_PER_HOUR = 3600.0
GPU_HOURS, TPU_CHIP_HOURS, CPU_CORE_HOURS = "GPU-hours", "TPU chip-hours", "CPU core-hours"
SHORT_UNITS = {GPU_HOURS: "GPU-h", TPU_CHIP_HOURS: "TPU-h", CPU_CORE_HOURS: "CPU-h"}
"""For the `kubectl get` column."""


@dataclass(frozen=True)
class Rate:
    unit: str
    per_hour: float
    """Units one trial spends per hour it holds its resources (chips, or CPU cores)."""

    def cost(self, held_seconds: float) -> float:
        return self.per_hour * max(0.0, held_seconds) / SECONDS_PER_HOUR


def trial_rate(per_trial: PerTrialResources) -> Rate:
    """The rate of one trial: its GPUs or TPU chips (the placement model's request), else its CPU
    request in cores."""
    request = trial_request(per_trial)
    if RAY_GPU in request:
        return Rate(GPU_HOURS, request[RAY_GPU])
    if RAY_TPU in request:
        return Rate(TPU_CHIP_HOURS, request[RAY_TPU])
    return Rate(CPU_CORE_HOURS, cpu_cores(per_trial.cpu))


@dataclass(frozen=True)
class Terms:
    """spec.budget with the rate of one trial."""

    rate: Rate
    limit: float | None
    """budget.acceleratorHours, in `rate.unit`."""
    wall_limit: int | None


def terms_of(spec: TuningSweepSpec) -> Terms | None:
    if spec.budget is None:
        return None
    return Terms(
        trial_rate(spec.resources.per_trial), spec.budget.accelerator_hours, spec.budget.wall_seconds
    )


def trial_max_steps(backend: str, base_config: Mapping[str, Any], params: Mapping[str, Any]) -> int:
    """The optimizer steps a trial trains when nothing cuts it: its own training.max_steps."""
    training = {"training": fold_params(base_config, params).get("training", {})}
    return int(config_model(backend).model_validate(training).training.max_steps)


TrialEnd = Literal["running", "full", "partial"]
"""`full`: ran to its last step (its cost estimates a new trial); `partial`: failed, cut or stopped
early (it spent, but is no full-length estimate)."""


@dataclass(frozen=True)
class TrialSpend:
    held_seconds: float
    """Seconds it has held its resources: until now while running, else start to end."""
    end: TrialEnd
    step: int = 0
    """The last step it reported."""
    max_steps: int = 0


def spent(rate: Rate, trials: Sequence[TrialSpend], *, running: bool = False) -> float:
    """What the ended trials cost (`running`: the running ones so far too)."""
    return sum(rate.cost(t.held_seconds) for t in trials if running or t.end != "running")


def estimate(rate: Rate, trials: Sequence[TrialSpend]) -> float | None:
    """One more trial's cost: the mean of the trials that ran to their end; before any did, the
    running ones projected to their max_steps from the steps they reported; None when nothing is
    known yet (no trial ended in full, none reported a step)."""
    full = [rate.cost(t.held_seconds) for t in trials if t.end == "full"]
    if full:
        return sum(full) / len(full)
    projected = [_projected_cost(rate, t) for t in trials if t.end == "running" and t.step > 0]
    return sum(projected) / len(projected) if projected else None


def _projected_cost(rate: Rate, trial: TrialSpend) -> float:
    return rate.cost(trial.held_seconds * max(trial.max_steps, trial.step) / trial.step)


def remainder(rate: Rate, trials: Sequence[TrialSpend], one_trial: float) -> float:
    """What the running trials will still spend: projected from their steps, or, before their first
    report, `one_trial` less what they spent so far."""
    left = 0.0
    for t in trials:
        if t.end == "running":
            total = _projected_cost(rate, t) if t.step > 0 else one_trial
            left += max(0.0, total - rate.cost(t.held_seconds))
    return left


@dataclass(frozen=True)
class Decision:
    may_start: bool
    reason: str
    """Why not (empty when it may), for the summary: `BudgetSpent: ...`, `WallTimeSpent: ...`."""


def decide(
    limit: float | None,
    rate: Rate,
    trials: Sequence[TrialSpend],
    *,
    parallel: int,
    wall_limit: int | None = None,
    wall_used: float = 0.0,
) -> Decision:
    """May a new trial start? Within wall time, and spent + remainder + estimate <= limit.

    Before anything is known (no trial ended in full and no running one reported a step), there is
    nothing to estimate from: at most `parallel` trials run, while nothing is spent beyond the limit,
    and the next waits for one of them to report or end.
    """
    if wall_limit is not None and wall_used >= wall_limit:
        return Decision(False, f"WallTimeSpent: {wall_used:.0f} s of budget.wallSeconds={wall_limit} passed")
    if limit is None:
        return Decision(True, "")
    done = spent(rate, trials)
    one_trial = estimate(rate, trials)
    if one_trial is None:
        running = sum(t.end == "running" for t in trials)
        if running < parallel and done < limit:
            return Decision(True, "")
        return Decision(False, "" if done < limit else _spent_reason(done, limit, rate, len(trials)))
    projected = done + remainder(rate, trials, one_trial) + one_trial
    if projected <= limit:
        return Decision(True, "")
    return Decision(False, _spent_reason(projected, limit, rate, len(trials), one_trial))


def _spent_reason(projected: float, limit: float, rate: Rate, started: int, one_trial: float = 0.0) -> str:
    more = f", with one more trial (about {_amount(one_trial, rate.unit)})," if one_trial else ""
    return (
        f"BudgetSpent: the trials' spend{more} would reach {_amount(projected, rate.unit)}, past "
        f"budget.acceleratorHours={limit:g} {rate.unit}; no trial started after the first "
        f"{counted(started, 'trial')}"
    )


def exhausted(
    limit: float | None,
    rate: Rate,
    trials: Sequence[TrialSpend],
    *,
    wall_limit: int | None = None,
    wall_used: float = 0.0,
) -> bool:
    """Cut the running trials: the spend, running trials included, reached the limit, or the wall
    time passed."""
    if wall_limit is not None and wall_used >= wall_limit:
        return True
    return limit is not None and spent(rate, trials, running=True) >= limit


def left(limit: float | None, used: float) -> float | None:
    return None if limit is None else max(0.0, limit - used)


def _amount(value: float, unit: str) -> str:
    return f"{value:.4g} {unit}"


def short_spend(spent_units: float, limit: float | None, unit: str) -> str:
    """`1.2/4 GPU-h`: the spend at a glance (`kubectl get`)."""
    of = "" if limit is None else f"/{limit:.3g}"
    return f"{spent_units:.3g}{of} {SHORT_UNITS.get(unit, unit)}"


def summary_problems(
    terms: Terms | None,
    spend: SweepBudget | None,
    records: Sequence[TrialRecord],
    manifests: Mapping[str, RunManifest],
    *,
    final: bool,
) -> list[str]:
    """The spend of a sweep_summary.json re-derived: the budget as the plan says, each trial's cost
    from its held interval, which contains its run_manifest's start..end, and the sum."""
    if terms is None:
        return [] if spend is None else ["budget is recorded, but plan.json's spec has no budget"]
    if spend is None:
        return ["budget missing: plan.json's spec has a budget, so the summary records its spend"]
    found = [
        f"budget.{name} {claimed!r} != plan.json's {expected!r}"
        for name, claimed, expected in (
            ("unit", spend.unit, terms.rate.unit),
            ("rate", spend.rate, terms.rate.per_hour),
            ("limit", spend.limit, terms.limit),
            ("wall_seconds_limit", spend.wall_seconds_limit, terms.wall_limit),
        )
        if claimed != expected
    ]
    for index, record in enumerate(records):
        found += [
            f"trials[{index}] (trial {record.trial_id}) {problem}"
            for problem in _trial_problems(terms.rate, record, manifests.get(record.trial_id), final=final)
        ]
    total = sum(record.accelerator_hours or 0.0 for record in records)
    if not _same(spend.spent, total):
        found.append(f"budget.spent {spend.spent!r} != the trials' accelerator_hours summed, {total!r}")
    expected_left = left(terms.limit, spend.spent)
    if _differs(spend.left, expected_left):
        found.append(f"budget.left {spend.left!r} != limit - spent, {expected_left!r}")
    return found


def _trial_problems(
    rate: Rate, record: TrialRecord, manifest: RunManifest | None, *, final: bool
) -> list[str]:
    if record.held_from is None:
        if record.accelerator_hours is not None or record.held_until is not None:
            return ["has accelerator_hours or held_until but no held_from"]
        return (
            ["ran (its run_manifest.json is there) but records no held interval"]
            if manifest and final
            else []
        )
    if record.held_until is None or record.accelerator_hours is None:
        return ["has held_from but no held_until or accelerator_hours"]
    held_from, held_until = _time(record.held_from), _time(record.held_until)
    found = []
    expected = rate.cost((held_until - held_from).total_seconds())
    if not _same(record.accelerator_hours, expected):
        found.append(
            f"accelerator_hours {record.accelerator_hours!r} != rate {rate.per_hour:g} x its held "
            f"interval {record.held_from}..{record.held_until}, {expected!r}"
        )
    if manifest is not None:
        # The manifest keeps whole seconds: compare the held interval at that precision.
        if held_from.replace(microsecond=0) > _time(manifest.started_at):
            found.append(
                f"held_from {record.held_from} is after its run_manifest.json started_at "
                f"{manifest.started_at}"
            )
        trailing = STOP_GRACE if record.status == "early_stopped" else timedelta(0)
        if manifest.finished_at is not None and held_until + trailing < _time(manifest.finished_at):
            found.append(
                f"held_until {record.held_until} is before its run_manifest.json finished_at "
                f"{manifest.finished_at}"
            )
    return found


STOP_GRACE = timedelta(seconds=5)
"""A trial the sweep stopped (cut by the budget or the rung scheduler) ends in Tune first, and its
process marks its run_manifest's end a moment later, which the sweep's final summary may not see yet."""


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _differs(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is not b
    return not _same(a, b)
