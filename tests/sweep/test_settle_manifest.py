"""A trial whose process ended between a checkpoint's prune and its manifest write (a timeout, a lost
Pod) is settled with the checkpoints that are really there; a trial process that ends after the driver
settled it leaves the driver's word."""

from __future__ import annotations

from pathlib import Path

from tunesweep_evidence import bucket, layout, trial_checkpoints
from tunesweep_evidence.documents import RunManifest
from tunesweep_trainer.recorder import TrialRecorder
from tunesweep_trainer.sweep.trial_records import settle_manifest

from tests.evidence.test_trial_checkpoints import manifest_listing, save


def running_manifest(trial_uri: str) -> RunManifest:
    return manifest_listing(trial_uri, status="running", config={"training": {"max_steps": 40}})


def test_a_settled_manifest_lists_the_checkpoints_found_not_those_last_written(tmp_path: Path) -> None:
    trial_uri = str(tmp_path / "t0")
    save(trial_uri, tmp_path, 10)
    save(trial_uri, tmp_path, 20)
    uri = layout.join(trial_uri, layout.RUN_MANIFEST)
    bucket.write_document(uri, running_manifest(trial_uri))
    save(trial_uri, tmp_path, 30)  # prunes step 10; the process ends before its manifest says so

    assert settle_manifest(uri, end="failed", error="TrialTimeout")
    settled = bucket.read_document(uri, RunManifest)
    assert settled.status == "failed" and settled.error == "TrialTimeout"
    assert [ref.step for ref in settled.checkpoints] == [20, 30]
    assert trial_checkpoints.manifest_problems(trial_uri, settled) == []


def test_a_trial_process_ending_after_the_driver_settled_it_leaves_the_drivers_word(tmp_path: Path) -> None:
    trial_uri = str(tmp_path / "t0")
    recorder = TrialRecorder(trial_uri, running_manifest(trial_uri))
    uri = layout.join(trial_uri, layout.RUN_MANIFEST)
    assert settle_manifest(uri, end="interrupted", error=None)  # Ctrl-C: the driver, first

    recorder.finish("early_stopped")  # Tune's stop reached the trial process only now
    assert bucket.read_document(uri, RunManifest).status == "interrupted"
