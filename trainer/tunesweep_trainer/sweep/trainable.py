"""The Ray Tune trainable: one trial = `run_trial` in this (Ray worker) process.

The trial's config is the base config with its sampled params folded in; its evidence goes to
`<evidence>/trials/<Ray trial id>/`; the trainer's reports become Tune results (see `results`).
The JAX compilation cache shared by a machine's trials is turned on inside each trial process by
the flax-lm backend itself (`compile_cache.enable` in its `prepare`), before anything compiles.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Checkpoint
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import EvalSummary, RunManifest
from tunesweep_evidence.primary_score import primary_score
from tunesweep_evidence.trial_config import fold_params

from ..backend import Program
from ..checkpointing import CheckpointPolicy, Donor
from ..errors import TrialFailed, TrialStopped
from ..trial import SAVED_CHECKPOINT, TrialIdentity, run_trial
from .results import OBJECTIVE, tune_result
from .trial_records import plain
from .watchdog import deadline


@dataclass(frozen=True)
class TrialJob:
    """What every trial of a sweep shares, from the plan."""

    root: str
    sweep_uid: str
    image: str
    backend: str
    program: Program
    """A custom backend's trainer (spec.trainer.entrypoint or command)."""
    base_config: dict[str, Any]
    mode: str
    timeout_s: float
    rung_steps: tuple[int, ...]
    """Where the trial scores its rung slice (the plan's search.rung_steps)."""
    checkpoints: CheckpointPolicy


def train_trial(config: dict[str, Any], job: TrialJob) -> None:
    trial_id = tune.get_context().get_trial_id()
    out_uri = layout.trial_dir(job.root, trial_id)
    if _replayed(out_uri):
        return
    params = plain(config)
    identity = TrialIdentity(tuning_job_id=job.sweep_uid, trial_id=trial_id, params=params, image=job.image)

    def report(metrics: dict[str, Any]) -> None:
        saved = metrics.pop(SAVED_CHECKPOINT, None)
        offered = saved is not None and metrics["step"] in job.checkpoints.pinned
        try:
            if offered:
                with tempfile.TemporaryDirectory() as pointer:
                    tune.report(tune_result(metrics), checkpoint=_pointer(Path(pointer), trial_id, saved))
            else:
                tune.report(tune_result(metrics))
        except SystemExit:
            # Tune ends a stopped trial (e.g. cut by ASHA) by raising SystemExit from report.
            raise TrialStopped("stopped by the sweep's scheduler") from None

    try:
        with deadline(job.timeout_s, out_uri):
            run_trial(
                job.backend,
                fold_params(job.base_config, params),
                out_uri,
                mode=job.mode,
                identity=identity,
                report=report,
                rung_steps=job.rung_steps,
                program=job.program,
                checkpoints=job.checkpoints,
                donor=_donor(trial_id),
            )
    except TrialStopped:
        # Ended as Tune ends a stopped trial's thread (its evidence is marked by now): returning
        # instead would make Tune's wrapper report once more and wait for a go-ahead that never
        # comes, and the process could not be reset to run the next trial.
        raise SystemExit(0) from None


POINTER = "checkpoint_pointer.json"


def _pointer(folder: Path, trial_id: str, checkpoint: str) -> Checkpoint:
    """What a trial offers Tune at a PBT perturbation step: not its state (that is in the evidence
    bucket already) but where it is, for Tune to hand to a trial that exploits this one."""
    (folder / POINTER).write_text(json.dumps({"trial_id": trial_id, "folder": checkpoint}))
    return Checkpoint(str(folder))


def _donor(trial_id: str) -> Donor | None:
    """The checkpoint Tune started this trial from (PBT: another trial's, to exploit), if any."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        pointer = json.loads(Path(folder, POINTER).read_text())
    if pointer["trial_id"] == trial_id:
        return None  # its own: a restart, which goes on from its newest checkpoint anyway
    return Donor(trial_id=pointer["trial_id"], folder=pointer["folder"])


def _replayed(out_uri: str) -> bool:
    """A trial whose evidence says it ended on its own is not run again (a resumed sweep whose
    driver died before Tune recorded the end): its recorded result is reported instead."""
    manifest_uri = layout.join(out_uri, layout.RUN_MANIFEST)
    if not bucket.exists(manifest_uri):
        return False
    manifest = bucket.read_document(manifest_uri, RunManifest)
    if manifest.status in ("running", "interrupted", "early_stopped"):
        # Cut short (a lost process or node, a killed driver, or Ctrl-C, whose trials the driver
        # marks interrupted): run it again, from its newest checkpoint.
        return False
    if manifest.status == "failed":
        raise TrialFailed(f"(recorded earlier) {manifest.error}")
    evaluation = bucket.read_document(layout.join(out_uri, layout.EVAL_SUMMARY), EvalSummary)
    steps = manifest.config.get("training", {}).get("max_steps")
    tune.report(tune_result({"step": steps, OBJECTIVE: primary_score(evaluation.rows)}))
    return True
