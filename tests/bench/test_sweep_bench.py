"""The sweep benchmark's step efficiency (bench/sweep_bench.py), on made-up trial times."""

from __future__ import annotations

from typing import Any

import pytest

from bench import sweep_bench


def test_steps_count_the_time_between_reports_less_rung_evaluations() -> None:
    metrics: list[dict[str, Any]] = [
        {"step": 50, "elapsed_s": 10.0, "rung_eval_s": 1.0},  # start and compilation, then 50 steps
        {"step": 100, "elapsed_s": 16.0, "rung_eval_s": 1.0},  # 50 steps in 5 s: 0.1 s a step
        {"step": 150, "elapsed_s": 21.0, "rung_eval_s": None},
    ]
    assert sweep_bench.intervals(metrics) == [(50, 5.0), (50, 5.0)]
    finished = sweep_bench.trial_times("a", "succeeded", 0.5, 23.0, metrics)  # final evaluation: 2 s
    cut = sweep_bench.trial_times("b", "early_stopped", None, 10.0, metrics[:1])  # the sweep's 0.1 s a step
    run = sweep_bench.SweepRun(ray_start_s=0.0, wall_s=20.0, parallel=2, trials=[finished, cut])
    # training 15 + 5, evaluation 1 + 1 + 2 + 1
    assert run.step_s == pytest.approx(25.0)
    assert run.step_efficiency == pytest.approx(25.0 / 40.0)
    assert run.efficiency == pytest.approx(33.0 / 40.0)
    lines = sweep_bench.efficiency_lines("ASHA", run)
    assert "early-stopped 1" in lines[0]
    assert "step efficiency  62.5%" in lines[2]
    assert "slot time 40.0 s = steps 25.0 + rest of run_trial 8.0 + outside run_trial 7.0" in lines[2]
