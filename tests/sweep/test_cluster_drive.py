"""`tunesweep drive`, the RayJob's entrypoint, in-process on the session's local Ray: any verdict
exits 0 (KubeRay retries a non-zero exit on a new Ray cluster, which would only reach it again),
an exception or an unreadable plan does not, and the operator, not the driver, promotes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tunesweep_evidence import cli, layout
from tunesweep_evidence.documents import Plan
from tunesweep_evidence.promotion import PromotionError, PromotionRefusal, promote
from tunesweep_trainer.sweep import driver
from tunesweep_trainer.sweep.driver import EXIT_INVALID, EXIT_SUCCEEDED

from tests.sweep.sweeps import UNLOADABLE_MODEL, frozen_plan, sweep_manifest, sweep_summary, unrunnable_plan

pytestmark = pytest.mark.usefixtures("local_ray")
Drive = Callable[[Plan], int]


@pytest.fixture
def tunesweep_drive() -> Iterator[Drive]:
    """`tunesweep drive --plan <plan.json>`; the log handler it adds to stderr goes with the test."""
    package = logging.getLogger("tunesweep_trainer")
    handlers, level = list(package.handlers), package.level
    yield lambda plan: cli.main(["drive", "--plan", layout.join(plan.evidence_uri, layout.PLAN)])
    package.handlers[:] = handlers
    package.setLevel(level)


def test_a_failed_verdict_exits_0_and_promotes_nothing(tmp_path: Path, tunesweep_drive: Drive) -> None:
    manifest = sweep_manifest(
        searchSpace={"model.name": {"choice": [UNLOADABLE_MODEL]}},
        trials={"count": 1, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 120},
    )
    assert tunesweep_drive(frozen_plan(tmp_path, manifest)) == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    assert summary.status == "failed"
    assert summary.reason.startswith("TooManyFailedTrials: 1 of 1 trial failed")
    assert not (tmp_path / "promoted").exists()


def test_a_succeeded_sweep_leaves_the_promotion_to_the_operator(
    tmp_path: Path, tunesweep_drive: Drive
) -> None:
    assert tunesweep_drive(frozen_plan(tmp_path, sweep_manifest())) == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    assert summary.status == "succeeded" and summary.reason == "" and summary.best_trial is not None
    assert (tmp_path / layout.REPORT).exists() and not (tmp_path / "promoted").exists()
    # The operator's promotion, from the evidence, picks the trial the summary names.
    assert promote(str(tmp_path)).best.trial_id == summary.best_trial.trial_id


def test_below_min_score_the_sweep_succeeds_and_the_operators_promotion_refuses(
    tmp_path: Path, tunesweep_drive: Drive
) -> None:
    manifest = sweep_manifest(promotion={"minScore": 0.99})  # the mock scores at most 0.95
    assert tunesweep_drive(frozen_plan(tmp_path, manifest)) == EXIT_SUCCEEDED
    assert sweep_summary(tmp_path).status == "succeeded"
    with pytest.raises(PromotionError) as refused:
        promote(str(tmp_path))
    assert refused.value.reason is PromotionRefusal.below_min_score


def test_a_plan_the_driver_refuses_exits_0_with_the_reason(tmp_path: Path, tunesweep_drive: Drive) -> None:
    assert tunesweep_drive(unrunnable_plan(tmp_path)) == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    assert summary.status == "failed" and summary.reason.startswith("InvalidPlan: plan.json's search")


def test_a_driver_that_raises_says_so_and_fails_the_process(
    tmp_path: Path, tunesweep_drive: Drive, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bucket_down(*_: object) -> None:
        raise ConnectionError("the bucket is down")

    monkeypatch.setattr(driver, "tuner_for", bucket_down)
    with pytest.raises(ConnectionError):  # uncaught: the process exits 1 and KubeRay retries
        tunesweep_drive(frozen_plan(tmp_path, sweep_manifest()))
    summary = sweep_summary(tmp_path)
    assert (summary.status, summary.reason) == ("failed", "DriverError: ConnectionError: the bucket is down")


def test_an_unreadable_plan_exits_2_with_no_summary(tmp_path: Path) -> None:
    assert cli.main(["drive", "--plan", str(tmp_path / layout.PLAN)]) == EXIT_INVALID
    assert not (tmp_path / layout.SWEEP_SUMMARY).exists()
