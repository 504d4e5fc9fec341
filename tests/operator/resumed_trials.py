"""A trial caught mid-run by a fault on the cluster path, and what its evidence must say once the sweep
is over: it went on from its checkpoint instead of starting again (tests/operator/test_cluster_faults.py,
tests/operator/test_cluster_preemption.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from tunesweep_evidence import bucket, layout, trial_checkpoints
from tunesweep_evidence.documents import MetricsLine, RunManifest, SweepSummary
from tunesweep_evidence.training_config import TrainingSection
from tunesweep_evidence.trial_checks import report_steps

from tests.operator.cluster import wait_until
from tests.operator.test_sweep_lifecycle import FLAX_TINY_CONFIG


def flax_trainer(max_steps: int) -> dict[str, Any]:
    """The tiny flax-lm trainer, `max_steps` long (a tiny step takes ~30 ms on a loaded 2-core machine),
    reporting and saving a checkpoint 20 times: time to catch a trial after its first checkpoint."""
    config = copy.deepcopy(FLAX_TINY_CONFIG)
    config["training"] |= {"max_steps": max_steps, "report_every_steps": max_steps // 20}
    return {"backend": "flax-lm", "baseConfig": config}


def summary(root: str) -> SweepSummary | None:
    uri = layout.join(root, layout.SWEEP_SUMMARY)
    return bucket.read_document(uri, SweepSummary) if bucket.exists(uri) else None


def running_trial(root: str) -> str | None:
    found = summary(root)
    return next((t.trial_id for t in found.trials if t.status == "running"), None) if found else None


def finished_trials(root: str) -> set[str]:
    found = summary(root)
    return {t.trial_id for t in found.trials if t.status == "succeeded"} if found else set()


def run_manifest(root: str, trial_id: str) -> RunManifest:
    uri = layout.join(layout.trial_dir(root, trial_id), layout.RUN_MANIFEST)
    return bucket.read_document(uri, RunManifest)


def metrics(root: str, trial_id: str) -> list[MetricsLine]:
    return bucket.read_jsonl(layout.join(layout.trial_dir(root, trial_id), layout.METRICS), MetricsLine)


@dataclass(frozen=True)
class CaughtTrial:
    """A running trial as the bucket showed it right before a fault: its newest complete checkpoint
    and the metrics it had reported."""

    trial_id: str
    checkpoint_step: int
    metrics: list[MetricsLine]


def caught_mid_run(root: str) -> CaughtTrial | None:
    """The running trial, once it has a complete checkpoint; None before."""
    trial_id = running_trial(root)
    if trial_id is None:
        return None
    try:
        newest = trial_checkpoints.latest(layout.trial_dir(root, trial_id))
    except bucket.ObjectNotFound:  # pruned between listing and reading: the trial saved again meanwhile
        return None
    if newest is None:
        return None
    manifest = run_manifest(root, trial_id)  # the trial's own word: the summary may lag its end
    max_steps = TrainingSection.model_validate(manifest.config["training"]).max_steps
    if manifest.status != "running" or newest.step >= max_steps:
        return None
    # read after the checkpoint: a trial saves after recording that step's metrics, so they reach it
    return CaughtTrial(trial_id, newest.step, metrics(root, trial_id))


def wait_for_a_trial_mid_run(root: str, timeout: float = 300) -> CaughtTrial:
    def probe() -> CaughtTrial | None:
        found = summary(root)
        ended = found is not None and found.status != "running"
        assert not ended, f"the sweep ended before a trial was caught mid-run: {found}"
        return caught_mid_run(root)

    return wait_until(probe, timeout, lambda: f"a running trial with a checkpoint in {summary(root)}")


def assert_resumed(root: str, caught: CaughtTrial) -> RunManifest:
    """The caught trial succeeded in a second start that went on from (at least) the checkpoint it had
    when caught, and trained no step again that its checkpoint held; its run_manifest.json."""
    manifest = run_manifest(root, caught.trial_id)
    assert manifest.status == "succeeded", manifest
    assert len(manifest.attempts) >= 2, f"started once only: {manifest.attempts}"
    first, resumed, *_ = manifest.attempts
    assert first.resumed_from_step == 0, manifest.attempts
    assert resumed.resumed_from_step >= caught.checkpoint_step, (caught, manifest.attempts)
    final = summary(root)
    assert final is not None
    (record,) = (t for t in final.trials if t.trial_id == caught.trial_id)
    # counted as restarts of a trial that succeeded, not as a failure
    assert record.status == "succeeded" and record.restarts == len(manifest.attempts) - 1, record
    assert {attempt.after for attempt in manifest.attempts[1:]} == {"lost"}, manifest.attempts
    lines = metrics(root, caught.trial_id)
    training = TrainingSection.model_validate(manifest.config["training"])
    # Each report step once, in order (these sweeps have no rungs): a resumed start that trained from
    # step 0 again would have reported the steps up to its checkpoint a second time, after those kept
    # from the first start.
    assert [line.step for line in lines] == report_steps(training, rung_steps=()), lines
    assert resumed.resumed_from_step in {line.step for line in lines}, (resumed, lines)
    # What the first start reported up to its checkpoint is kept as it was (its elapsed_s too).
    kept = [line for line in lines if line.step <= caught.checkpoint_step]
    assert kept == [line for line in caught.metrics if line.step <= caught.checkpoint_step], (caught, lines)
    return manifest
