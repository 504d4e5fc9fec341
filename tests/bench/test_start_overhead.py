"""The start-overhead benchmark (bench/start_overhead.py) runs end to end on a tiny Gemma here."""

from __future__ import annotations

import pytest

from bench import start_overhead


def test_it_times_a_fresh_and_a_reused_trial_process_start(capsys: pytest.CaptureFixture[str]) -> None:
    start_overhead.main(["--layers", "1", "--embed-dim", "64", "--vocab", "256", "--steps", "1"])
    out = capsys.readouterr().out
    assert "1 layers, embed 64, vocab 256" in out
    for label in start_overhead.STARTS:
        assert out.count(label) == 2  # its phases, and its overhead against a 30 s trial
    # Only the reused process's trial found its base model kept.
    assert "base model taken from the process's cache: False, False, True" in out


def test_the_overhead_is_the_time_to_the_first_step_less_one_steady_step() -> None:
    phases = dict.fromkeys(start_overhead.PHASES, 0.5)
    assert start_overhead.start_overhead({"phases": phases, "step_s": 0.25}) == pytest.approx(2.25)
