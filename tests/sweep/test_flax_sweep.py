"""The real path: a two-trial sweep of the tiny Flax/Tunix model (real training and evaluation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tunesweep_evidence.verify import verify
from tunesweep_trainer.sweep.driver import EXIT_SUCCEEDED, drive

from tests.sweep.sweeps import frozen_plan, manifests, sweep_manifest, sweep_summary

TINY_CONFIG = {
    "model": {"name": "tiny", "max_length": 64},
    "training": {
        "learning_rate": 3.0e-3,
        "per_device_batch_size": 8,
        "warmup_steps": 2,
        "max_steps": 12,
        "seed": 0,
        "report_every_steps": 4,
    },
    "data": {
        "train": "builtin:arithmetic",
        "eval": "builtin:arithmetic",
        "train_size": 200,
        "eval_size": 8,
        "test_size": 4,
        "rung_size": 4,
    },
    "eval": {"max_generation_steps": 48, "batch_size": 8},
}


@pytest.mark.usefixtures("local_ray")
def test_a_real_flax_sweep_trains_evaluates_and_promotes(tmp_path: Path) -> None:
    manifest = sweep_manifest(
        trainer={"backend": "flax-lm", "baseConfig": TINY_CONFIG},
        searchSpace={"training.learning_rate": {"grid": [1.0e-3, 3.0e-3]}},
        algorithm={"name": "grid", "seed": 0},
        trials={"count": 1, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 300},
    )
    result = drive(frozen_plan(tmp_path, manifest))

    assert result.exit_code == EXIT_SUCCEEDED, sweep_summary(tmp_path).reason
    summary = sweep_summary(tmp_path)
    assert [r.status for r in summary.trials] == ["succeeded", "succeeded"]
    assert all(r.primary_score is not None and 0.0 <= r.primary_score <= 1.0 for r in summary.trials)
    assert all(r.iterations >= 3 for r in summary.trials)  # every report_every_steps, then the evaluation
    runs = manifests(tmp_path).values()
    assert {run.backend for run in runs} == {"flax-lm"}
    assert {run.config["training"]["learning_rate"] for run in runs} == {1.0e-3, 3.0e-3}
    assert result.promotion is not None
    report = verify(str(tmp_path))
    assert report.ok, report.problems
