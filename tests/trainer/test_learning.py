"""The one slow trainer test: the tiny model really learns the builtin task, and the learning rate
decides how much (the property a sweep exists to exploit). About 30-60 s per trial on 2 cores."""

from __future__ import annotations

from pathlib import Path

from tunesweep_trainer.trial import run_trial


def _score(learning_rate: float, out: Path) -> float:
    config = {
        "training": {"learning_rate": learning_rate, "max_steps": 400, "report_every_steps": 100},
        "data": {"eval_size": 50, "test_size": 10},
    }
    score = run_trial("flax-lm", config, str(out)).primary_score
    assert score is not None
    return score


def test_good_learning_rate_clearly_beats_a_poor_one(tmp_path: Path) -> None:
    good, poor = _score(3e-3, tmp_path / "good"), _score(1e-4, tmp_path / "poor")
    assert good >= 0.4, f"lr 3e-3 reached only {good}"
    assert poor <= 0.05, f"lr 1e-4 reached {poor}"
