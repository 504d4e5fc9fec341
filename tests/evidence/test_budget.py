"""spec.budget's arithmetic (`tunesweep_evidence.budget`), with numbers worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest
from tunesweep_evidence.budget import (
    CPU_CORE_HOURS,
    GPU_HOURS,
    TPU_CHIP_HOURS,
    Rate,
    Terms,
    TrialSpend,
    decide,
    estimate,
    exhausted,
    remainder,
    short_spend,
    spent,
    summary_problems,
    trial_max_steps,
    trial_rate,
)
from tunesweep_evidence.documents import AcceleratorInfo, HostInfo, RunManifest, SweepBudget, TrialRecord
from tunesweep_evidence.spec import PerTrialResources, TuningSweepSpec

GPU2 = Rate(GPU_HOURS, 2.0)
HOUR = 3600.0


def full(hours: float) -> TrialSpend:
    return TrialSpend(held_seconds=hours * HOUR, end="full", step=100, max_steps=100)


def running(hours: float, step: int, max_steps: int = 100) -> TrialSpend:
    return TrialSpend(held_seconds=hours * HOUR, end="running", step=step, max_steps=max_steps)


@pytest.mark.parametrize(
    ("per_trial", "unit", "per_hour"),
    [
        ({"accelerator": "nvidia.com/gpu", "count": 4}, GPU_HOURS, 4.0),
        ({"accelerator": "google.com/tpu", "count": 8}, TPU_CHIP_HOURS, 8.0),
        ({"cpu": "500m"}, CPU_CORE_HOURS, 0.5),  # the request, not Ray's whole CPU
        ({"cpu": 3}, CPU_CORE_HOURS, 3.0),
    ],
)
def test_the_rate_of_one_trial(per_trial: dict[str, Any], unit: str, per_hour: float) -> None:
    assert trial_rate(PerTrialResources.model_validate(per_trial)) == Rate(unit, per_hour)


def test_half_a_core_for_90_minutes_is_three_quarters_of_a_core_hour() -> None:
    rate = trial_rate(PerTrialResources.model_validate({"cpu": "500m"}))
    assert rate.cost(90 * 60) == pytest.approx(0.75)


def test_a_trial_s_max_steps_is_its_own() -> None:
    base = {"training": {"max_steps": 60}}
    assert trial_max_steps("mock", base, {}) == 60
    assert trial_max_steps("mock", base, {"training.max_steps": 200}) == 200
    assert trial_max_steps("mock", {}, {}) == trial_max_steps("mock", {"training": {}}, {})


def test_nothing_spent_and_nothing_known_without_trials() -> None:
    assert spent(GPU2, []) == 0.0
    assert estimate(GPU2, []) is None


def test_failed_and_cut_trials_spent_but_do_not_estimate() -> None:
    failed = TrialSpend(held_seconds=0.5 * HOUR, end="partial", step=10, max_steps=100)
    cut = TrialSpend(held_seconds=1.0 * HOUR, end="partial", step=30, max_steps=100)
    trials = [failed, cut, full(2.0)]
    # 2 GPUs x (0.5 + 1 + 2) hours
    assert spent(GPU2, trials) == pytest.approx(7.0)
    assert estimate(GPU2, trials) == pytest.approx(4.0)  # the full one only: 2 GPUs x 2 h


def test_the_estimate_is_the_mean_of_the_full_trials() -> None:
    assert estimate(GPU2, [full(1.0), full(2.0), running(5.0, 10)]) == pytest.approx(3.0)


def test_before_any_full_trial_the_running_ones_are_projected() -> None:
    # 1 h for 25 of 100 steps -> 4 h -> 8 GPU-h; 1 h for 50 of 100 -> 2 h -> 4 GPU-h; mean 6
    trials = [running(1.0, 25), running(1.0, 50), running(0.1, 0)]
    assert estimate(GPU2, trials) == pytest.approx(6.0)
    # what they still spend: 8 - 2, 4 - 2, and 6 (the estimate) - 0.2 for the one without a step
    assert remainder(GPU2, trials, 6.0) == pytest.approx(6.0 + 2.0 + 5.8)


def test_a_new_trial_starts_while_spent_remainder_and_estimate_fit() -> None:
    trials = [full(1.0), running(0.5, 50)]  # spent 2, the running one still spends 1, estimate 2
    assert decide(5.0, GPU2, trials, parallel=2).may_start
    no = decide(4.9, GPU2, trials, parallel=2)
    assert not no.may_start
    assert no.reason.startswith("BudgetSpent: ")
    assert "about 2 GPU-hours" in no.reason and "reach 5 GPU-hours" in no.reason
    assert "budget.acceleratorHours=4.9 GPU-hours" in no.reason


def test_before_anything_is_known_at_most_parallel_trials_run() -> None:
    started = [running(0.1, 0), running(0.1, 0)]
    assert decide(100.0, GPU2, started[:1], parallel=2).may_start
    waiting = decide(100.0, GPU2, started, parallel=2)
    assert not waiting.may_start and waiting.reason == ""  # not final: their reports will tell
    # a failed first wave leaves nothing to wait for: the next may start, the spend allowing
    failed = [TrialSpend(held_seconds=HOUR, end="partial"), TrialSpend(held_seconds=HOUR, end="partial")]
    assert decide(100.0, GPU2, failed, parallel=2).may_start
    assert not decide(4.0, GPU2, failed, parallel=2).may_start  # 4 GPU-h spent of 4


def test_wall_time_stops_new_trials_and_cuts_running_ones() -> None:
    wall = decide(None, GPU2, [], parallel=2, wall_limit=600, wall_used=600.5)
    assert not wall.may_start and wall.reason.startswith("WallTimeSpent: ")
    assert decide(None, GPU2, [], parallel=2, wall_limit=600, wall_used=599).may_start
    assert exhausted(None, GPU2, [running(0.1, 5)], wall_limit=600, wall_used=601)
    assert not exhausted(None, GPU2, [running(0.1, 5)], wall_limit=600, wall_used=10)


def test_running_trials_are_cut_once_their_spend_reaches_the_limit() -> None:
    trials = [full(1.0), running(0.5, 20)]  # 2 + 1 GPU-h so far
    assert exhausted(3.0, GPU2, trials)
    assert not exhausted(3.1, GPU2, trials)


def test_the_column_reads_at_a_glance() -> None:
    assert short_spend(1.234, 4.0, GPU_HOURS) == "1.23/4 GPU-h"
    assert short_spend(0.5, None, CPU_CORE_HOURS) == "0.5 CPU-h"


# ---- the re-derivation `tunesweep evidence verify` runs ----

TERMS = Terms(Rate(CPU_CORE_HOURS, 0.5), limit=1.0, wall_limit=None)


def manifest(started: str, finished: str) -> RunManifest:
    host = HostInfo(hostname="h", python="3.11", accelerator=AcceleratorInfo(platform="cpu"))
    return RunManifest(
        run_id="r",
        trial_id="t1",
        backend="mock",
        config={},
        seed=0,
        host=host,
        status="succeeded",
        started_at=started,
        finished_at=finished,
    )


def record(held_from: str, held_until: str, cost: float) -> TrialRecord:
    return TrialRecord(
        trial_id="t1", status="succeeded", held_from=held_from, held_until=held_until, accelerator_hours=cost
    )


# 30 minutes at half a core: 0.25 core-hours
HELD = ("2026-01-01T10:00:00.400000+00:00", "2026-01-01T10:30:00.400000+00:00")
RUN = manifest("2026-01-01T10:00:00+00:00", "2026-01-01T10:30:00+00:00")


def spend(spent_: float = 0.25, left: float | None = 0.75) -> SweepBudget:
    return SweepBudget(
        unit=CPU_CORE_HOURS,
        rate=0.5,
        limit=1.0,
        spent=spent_,
        left=left,
        wall_seconds_used=1800.0,
        started_at="2026-01-01T09:59:00+00:00",
    )


def test_a_spend_that_adds_up_passes() -> None:
    # held_from is 0.4 s after the manifest's whole-second start: the same second
    assert summary_problems(TERMS, spend(), [record(*HELD, 0.25)], {"t1": RUN}, final=True) == []


def test_a_trial_cost_restated_is_named() -> None:
    found = summary_problems(TERMS, spend(0.2, 0.8), [record(*HELD, 0.2)], {"t1": RUN}, final=True)
    assert found == [
        "trials[0] (trial t1) accelerator_hours 0.2 != rate 0.5 x its held interval "
        f"{HELD[0]}..{HELD[1]}, 0.25"
    ]


def test_a_spend_that_is_not_the_sum_is_named() -> None:
    found = summary_problems(TERMS, spend(0.1, 0.9), [record(*HELD, 0.25)], {"t1": RUN}, final=True)
    assert found == ["budget.spent 0.1 != the trials' accelerator_hours summed, 0.25"]
    found = summary_problems(TERMS, spend(0.25, 0.5), [record(*HELD, 0.25)], {"t1": RUN}, final=True)
    assert found == ["budget.left 0.5 != limit - spent, 0.75"]


def test_a_held_interval_shorter_than_the_run_is_named() -> None:
    late = ("2026-01-01T10:00:01+00:00", "2026-01-01T10:30:00+00:00")
    cost = 0.5 * (1799 / 3600)
    found = summary_problems(TERMS, spend(cost, 1 - cost), [record(*late, cost)], {"t1": RUN}, final=True)
    assert found == [
        "trials[0] (trial t1) held_from 2026-01-01T10:00:01+00:00 is after its run_manifest.json "
        "started_at 2026-01-01T10:00:00+00:00"
    ]
    early = ("2026-01-01T10:00:00+00:00", "2026-01-01T10:29:59+00:00")
    found = summary_problems(TERMS, spend(cost, 1 - cost), [record(*early, cost)], {"t1": RUN}, final=True)
    assert found == [
        "trials[0] (trial t1) held_until 2026-01-01T10:29:59+00:00 is before its run_manifest.json "
        "finished_at 2026-01-01T10:30:00+00:00"
    ]


def test_a_stopped_trial_s_process_may_mark_its_end_a_moment_after_the_driver() -> None:
    stopped = record(*HELD, 0.25).model_copy(update={"status": "early_stopped"})
    moment_later = manifest(RUN.started_at, "2026-01-01T10:30:05+00:00")
    assert summary_problems(TERMS, spend(), [stopped], {"t1": moment_later}, final=True) == []
    much_later = manifest(RUN.started_at, "2026-01-01T10:30:06+00:00")
    found = summary_problems(TERMS, spend(), [stopped], {"t1": much_later}, final=True)
    assert found == [
        f"trials[0] (trial t1) held_until {HELD[1]} is before its run_manifest.json finished_at "
        "2026-01-01T10:30:06+00:00"
    ]


def test_the_budget_must_be_the_plan_s_and_be_there() -> None:
    other = spend().model_copy(update={"rate": 1.0, "limit": 2.0})
    found = summary_problems(TERMS, other, [record(*HELD, 0.25)], {"t1": RUN}, final=True)
    assert found[:2] == ["budget.rate 1.0 != plan.json's 0.5", "budget.limit 2.0 != plan.json's 1.0"]
    assert summary_problems(TERMS, None, [], {}, final=True) == [
        "budget missing: plan.json's spec has a budget, so the summary records its spend"
    ]
    assert summary_problems(None, spend(), [], {}, final=True) == [
        "budget is recorded, but plan.json's spec has no budget"
    ]


def test_a_trial_that_ran_without_a_held_interval_is_named() -> None:
    bare = TrialRecord(trial_id="t1", status="succeeded")
    found = summary_problems(TERMS, spend(0.0, 1.0), [bare], {"t1": RUN}, final=True)
    assert found == ["trials[0] (trial t1) ran (its run_manifest.json is there) but records no held interval"]


def test_a_budget_is_optional_and_needs_a_limit() -> None:
    space = {"training.learning_rate": {"loguniform": [1e-4, 1e-2]}}
    assert TuningSweepSpec.model_validate({"searchSpace": space, "mode": "smoke"}).budget is None
    with pytest.raises(ValueError, match="budget needs acceleratorHours, wallSeconds or both"):
        TuningSweepSpec.model_validate({"searchSpace": space, "mode": "smoke", "budget": {}})
