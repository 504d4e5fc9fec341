"""spec.budget through the real driver on the session's local Ray: a CPU core-hour budget that
affords only some of the planned trials, and a wall-time budget that cuts a running trial. The
trainer (`tests.sweep.custom_trainers.paced`) takes a known time per step, so a trial's cost is
held time x its one CPU core."""

from __future__ import annotations

import copy
import html
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ray.tune.search import BasicVariantGenerator
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.digests import write_digests
from tunesweep_evidence.documents import SweepSummary, TrialRecord
from tunesweep_evidence.spec import TuningSweep
from tunesweep_evidence.verify import verify
from tunesweep_trainer.sweep.budget import BudgetedVariants, BudgetHooks
from tunesweep_trainer.sweep.driver import EXIT_SUCCEEDED, drive

from tests.evidence.builders import edit_json
from tests.sweep.sweeps import frozen_plan, manifests, sweep_manifest, sweep_summary
from tests.sweep.test_restore import TUNESWEEP, kill_after_a_trial_finished

pytestmark = pytest.mark.usefixtures("local_ray")

PACED = "tests.sweep.custom_trainers.paced:run"
STEPS, REPORT_EVERY = 30, 5
CUT_SLACK_S = 10.0
"""How long a trial may go on once the budget is spent: until its next report (REPORT_EVERY steps,
under a second here), plus Tune stopping it and the trial process marking its end. The only spend
past the limit: every trial started with spent + projected + its estimate within the limit."""


def paced_sweep(step_seconds: Any, *, budget: dict[str, Any], **spec: Any) -> dict[str, Any]:
    base = {
        "training": {"max_steps": STEPS, "report_every_steps": REPORT_EVERY, "seed": 0},
        "pace": {"step_seconds": 0.1, "skill": 0.5},
        "data": {"eval_size": 10, "test_size": 5, "rung_size": 5},
    }
    return sweep_manifest(
        trainer={"backend": "python", "entrypoint": PACED, "baseConfig": copy.deepcopy(base)},
        searchSpace={"pace.skill": {"uniform": [0.2, 0.9]}, "pace.step_seconds": step_seconds},
        budget=budget,
        **spec,
    )


def by_start(summary: SweepSummary) -> list[TrialRecord]:
    started = [r for r in summary.trials if r.held_from is not None]
    return sorted(started, key=lambda r: r.held_from or "")


def test_a_core_hour_budget_starts_only_the_trials_it_can_afford(tmp_path: Path) -> None:
    limit, planned = 0.004, 6  # a trial holds its core >= 3 s (0.00083 core-h): at most 4.8 fit
    manifest = paced_sweep(
        {"choice": [0.1]},
        budget={"acceleratorHours": limit},
        trials={"count": planned, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 120},
    )
    result = drive(frozen_plan(tmp_path, manifest))

    assert result.exit_code == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    spend = summary.budget
    assert spend is not None
    assert (spend.unit, spend.rate, spend.limit) == ("CPU core-hours", 1.0, limit)
    assert summary.status == "succeeded" and summary.reason == spend.stopped_starting
    assert summary.reason.startswith("BudgetSpent: ")
    started = by_start(summary)
    assert 1 <= len(started) < planned and len(summary.trials) == len(started)
    assert set(manifests(tmp_path)) == {r.trial_id for r in started}
    # One at a time (parallel 1), so each trial was decided on the ones that ended before it: the
    # spend so far plus the mean of those that ran to their end fitted the limit.
    for k, trial in enumerate(started):
        before = started[:k]
        full = [r.accelerator_hours or 0.0 for r in before if r.status == "succeeded"]
        spent_before = sum(r.accelerator_hours or 0.0 for r in before)
        if full:
            assert spent_before + sum(full) / len(full) <= limit + 1e-9, (trial.trial_id, before)
    # ...and one more would not have
    full = [r.accelerator_hours or 0.0 for r in started if r.status == "succeeded"]
    assert spend.spent + sum(full) / len(full) > limit
    assert spend.spent == pytest.approx(sum(r.accelerator_hours or 0.0 for r in started), rel=1e-12)
    assert spend.spent <= limit + spend.rate * CUT_SLACK_S / 3600
    assert spend.left == pytest.approx(max(0.0, limit - spend.spent))
    for record in started:
        assert record.held_from and record.held_until and record.accelerator_hours
    # the best finished trial is promoted, and the evidence checks out
    assert summary.best_trial is not None and summary.promoted_by == "driver"
    assert bucket.exists(layout.join(str(tmp_path), layout.BEST_PARAMS))
    report = verify(str(tmp_path))
    assert report.ok, report.problems
    text = html.unescape((tmp_path / layout.REPORT).read_text())
    assert (
        f"Budget: spent {spend.spent:.4g} of 0.004 CPU core-hours ({spend.left:.4g} left). "
        f"It stopped starting trials: {spend.stopped_starting}. Trials it cut: "
    ) in text

    # a careful tamperer lowers one trial's cost, with the spend and the digests restated
    first = started[0].trial_id
    halved = (started[0].accelerator_hours or 0.0) / 2

    def lower(document: dict[str, Any]) -> None:
        for trial in document["trials"]:
            if trial["trial_id"] == first:
                trial["accelerator_hours"] = halved
        document["budget"]["spent"] -= halved
        document["budget"]["left"] += halved

    edit_json(layout.join(str(tmp_path), layout.SWEEP_SUMMARY), lower)
    write_digests(str(tmp_path))
    problems = verify(str(tmp_path)).problems
    assert len(problems) == 1 and f"(trial {first}) accelerator_hours {halved!r} != rate 1 x" in problems[0]


def test_wall_time_cuts_the_running_trial_and_starts_no_other(tmp_path: Path) -> None:
    # Fast and slow trials take turns (a grid, three passes): 0.3 s of steps, then 240 s, which
    # outlives the wall time whenever it starts. Two slow ones end up holding both slots, and are cut.
    # The wall time leaves the fast ones room to finish on a loaded machine, whose first trial
    # processes took 75-105 s to start in a CI run (beside the cluster tests), where 90 s was too short.
    wall, planned = 150, 6
    fast_step, slow_step = 0.01, 8.0
    manifest = paced_sweep(
        {"grid": [fast_step, slow_step]},
        budget={"wallSeconds": wall},
        trials={"count": 3, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 300},
    )
    result = drive(frozen_plan(tmp_path, manifest))

    assert result.exit_code == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    spend = summary.budget
    assert spend is not None and spend.limit is None and spend.wall_seconds_limit == wall
    assert summary.reason.startswith("WallTimeSpent: ") and summary.reason == spend.stopped_starting
    assert len(summary.trials) < planned
    assert spend.wall_seconds_used >= wall
    slow = [r for r in summary.trials if r.params["pace.step_seconds"] == slow_step]
    assert slow and all(r.status == "early_stopped" and r.trial_id in spend.cut_trials for r in slow)
    assert set(spend.cut_trials) == {r.trial_id for r in slow}
    best = summary.best_trial
    assert best is not None and best.params["pace.step_seconds"] == fast_step
    report = verify(str(tmp_path))
    assert report.ok, report.problems
    assert f"Trials it cut: {', '.join(spend.cut_trials)}." in html.unescape(
        (tmp_path / layout.REPORT).read_text()
    )


def test_a_killed_budgeted_driver_resumes_with_its_ledger(tmp_path: Path) -> None:
    manifest = paced_sweep(
        {"choice": [0.1]},
        budget={"acceleratorHours": 1.0, "wallSeconds": 3600},  # affords every trial
        trials={"count": 3, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 120},
    )
    frozen_plan(tmp_path, manifest)
    plan_uri = str(tmp_path / layout.PLAN)
    kill_after_a_trial_finished(plan_uri, tmp_path)
    first = sweep_summary(tmp_path).budget
    assert first is not None

    resumed = datetime.now(UTC)
    command = [TUNESWEEP, "drive", "--plan", plan_uri]
    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr

    summary = sweep_summary(tmp_path)
    spend = summary.budget
    assert spend is not None and summary.status == "succeeded" and len(summary.trials) == 3
    # the wall clock goes on from the first run's start: the restored ledger's, not a new one
    assert spend.started_at == first.started_at
    assert spend.wall_seconds_used >= (resumed - datetime.fromisoformat(first.started_at)).total_seconds()
    assert all(r.accelerator_hours for r in summary.trials)
    assert spend.spent == pytest.approx(sum(r.accelerator_hours or 0.0 for r in summary.trials), rel=1e-12)
    report = verify(str(tmp_path))
    assert report.ok, report.problems


def test_the_ledger_is_saved_by_the_tracker_and_shared_after_a_restore() -> None:
    spec = TuningSweep.model_validate(paced_sweep({"choice": [0.1]}, budget={"acceleratorHours": 1.0})).spec
    hooks = BudgetHooks.of(spec)
    ledger = hooks.ledger
    assert ledger is not None
    search = hooks.search(BasicVariantGenerator(max_concurrent=2, random_state=0))
    assert isinstance(search, BudgetedVariants)
    (tracker,) = hooks.callbacks()
    ledger.start("t1", {"pace.skill": 0.5}, now=100.0)
    ledger.finish("t1", 160.0, failed=False)
    saved_search, saved_ledger = search.get_state(), tracker.get_state()
    assert "ledger" not in saved_search  # Tune's copy of the generator would replace the live ledger

    ledger.trials.clear()
    search.set_state(saved_search)
    tracker.set_state(saved_ledger)
    assert search.ledger is ledger and ledger.trials["t1"].started == 100.0
    assert ledger.spends(200.0)[0].held_seconds == 60.0
