"""The search-quality benchmark's replay (bench/search_quality.py) on a tiny synthetic table: what a
trial costs, which trials the rules cut, and that a seed replays the same sweep."""

from __future__ import annotations

from typing import Any

import pytest

from bench.search_quality import DEFAULT_TABLE, METHODS, Setup, Table, replay, report, sample_setup

MAX_STEPS = 600
STEP_S = 0.1
RUNG_EVAL_S = 0.5
FINAL_EVAL_S = 2.0
LRS = [1.0e-3, 3.0e-3, 1.0e-2]
DECAYS = [0.0, 0.05]


def synthetic_table() -> Table:
    """Six configs: correctness grows with the learning rate's index, the training loss falls
    fastest for the smallest learning rate (so loss and correctness disagree)."""
    configs: dict[str, Any] = {}
    for i, lr in enumerate(LRS):
        for j, wd in enumerate(DECAYS):
            quality = (i + 0.1 * j) / 2.2
            curve, rung_evals = [], 0.0
            for step in range(50, MAX_STEPS + 1, 50):
                point: dict[str, Any] = {"step": step, "loss": 3.0 - (2 - i) * step / MAX_STEPS}
                if step < MAX_STEPS:
                    rung_evals += RUNG_EVAL_S
                    point.update(rung_score=round(quality * step / MAX_STEPS, 4), rung_eval_s=RUNG_EVAL_S)
                point["elapsed_s"] = STEP_S * step + rung_evals
                curve.append(point)
            configs[f"lr={lr},wd={wd}"] = {
                "params": {"training.learning_rate": lr, "training.weight_decay": wd},
                "curve": curve,
                "primary_score": round(quality, 4),
                "test_score": round(quality, 4),
                "final_eval_s": FINAL_EVAL_S,
            }
    header = {
        "command": "synthetic",
        "grid": {
            "params": {"training.learning_rate": LRS, "training.weight_decay": DECAYS},
            "base_config": {"data": {"rung_size": 4}},
        },
    }
    return Table.from_document({"header": header, "configs": configs})


SETUP = Setup(trials=8, parallel=1, rung_steps=(100, 300), reduction_factor=3, random_startup_trials=2)
BY_NAME = {m.name: m for m in METHODS}


def test_random_at_full_budget_costs_every_step_without_rung_evaluations() -> None:
    sweep = replay(synthetic_table(), BY_NAME["random"], 0, SETUP)
    assert len(sweep.trials) == SETUP.trials
    assert all(t.cut_at is None and t.steps == MAX_STEPS for t in sweep.trials)
    assert sweep.total[0] == SETUP.trials * MAX_STEPS
    # Training seconds (the recorded elapsed less every recorded rung evaluation) plus the final evaluation.
    assert sweep.total[1] == pytest.approx(SETUP.trials * (STEP_S * MAX_STEPS + FINAL_EVAL_S))
    assert sweep.best == max(t.curve.primary_score for t in sweep.trials)


@pytest.mark.parametrize("method", ["asha-loss", "asha-rung", "tpe-asha-rung"])
def test_a_trial_cut_at_a_rung_costs_only_the_steps_up_to_it(method: str) -> None:
    sweep = replay(synthetic_table(), BY_NAME[method], 3, SETUP)
    cut = [t for t in sweep.trials if t.cut_at is not None]
    assert cut, "the synthetic table makes ASHA cut some trials"
    for trial in cut:
        assert trial.cut_at in SETUP.rung_steps
        assert trial.steps == trial.cut_at
        assert trial.primary_score is None
        rung_evals = sum(RUNG_EVAL_S for r in SETUP.rung_steps if r <= trial.cut_at)
        evals = rung_evals if BY_NAME[method].cut_on == "rung_score" else 0.0
        assert trial.seconds == pytest.approx(STEP_S * trial.cut_at + evals)
    for trial in sweep.trials:
        if trial.cut_at is None:
            assert trial.steps == MAX_STEPS
    assert sweep.total[0] == sum(t.steps for t in sweep.trials) < SETUP.trials * MAX_STEPS


def test_loss_and_correctness_cut_different_trials() -> None:
    table = synthetic_table()
    by_loss = replay(table, BY_NAME["asha-loss"], 1, SETUP)
    by_rung = replay(table, BY_NAME["asha-rung"], 1, SETUP)
    # The same random draws for the two random-search methods at one seed.
    assert [t.curve.key for t in by_loss.trials] == [t.curve.key for t in by_rung.trials]
    # The rung score ranks like the primary score here, the loss the other way round.
    assert by_rung.best >= by_loss.best
    finished = [t.curve.primary_score for t in by_loss.trials if t.cut_at is None]
    assert min(finished) <= min(t.curve.primary_score for t in by_loss.trials if t.cut_at is not None)


@pytest.mark.parametrize("method", [m.name for m in METHODS])
def test_the_replay_is_deterministic_per_seed(method: str) -> None:
    table = synthetic_table()

    def summary(seed: int) -> list[tuple[str, int | None, float]]:
        return [(t.curve.key, t.cut_at, t.end_s) for t in replay(table, BY_NAME[method], seed, SETUP).trials]

    assert summary(5) == summary(5)
    assert summary(5) != summary(6) or summary(5) != summary(7)


def test_parallel_trials_spend_compute_side_by_side() -> None:
    sweep = replay(synthetic_table(), BY_NAME["asha-rung"], 0, Setup(**{**SETUP.__dict__, "parallel": 2}))
    assert sum(t.start_s == 0.0 for t in sweep.trials) == 2
    steps, seconds, _, _ = sweep.progress[-1]
    assert steps == pytest.approx(sweep.total[0])
    assert seconds == pytest.approx(sweep.total[1])


def test_the_setup_is_the_sample_sweeps_plan() -> None:
    setup = sample_setup(12, 2)
    assert setup.rung_steps == (100, 300)
    assert setup.reduction_factor == 3
    assert setup.random_startup_trials == 3


def test_the_report_says_it_is_a_replay() -> None:
    table = synthetic_table()
    results = {m.name: [replay(table, m, seed, SETUP) for seed in range(3)] for m in METHODS}
    lines: list[str] = []
    verdicts = report(table, SETUP, results, lines.append)
    assert "REPLAY" in lines[0]
    assert set(verdicts) == {m.name for m in METHODS}


def test_the_committed_table_is_a_full_grid_of_real_trials() -> None:
    table = Table.load(DEFAULT_TABLE)
    assert table.full
    assert "bench.record_curves" in table.header["command"]
    for curve in table.curves.values():
        assert curve.max_steps == 600
        assert [p.step for p in curve.points if p.rung_score is not None] == list(range(50, 600, 50))
        assert all(p.rung_eval_s > 0 for p in curve.points if p.rung_score is not None)
        assert 0.0 <= curve.primary_score <= 1.0
    setup = sample_setup(12, 2)
    for method in METHODS:
        assert replay(table, method, 0, setup).best > 0
