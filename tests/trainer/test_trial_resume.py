"""A trial whose process dies goes on from its newest checkpoint and ends as if never interrupted.

The process is really lost: the trial runs in a subprocess that `os._exit`s inside a report (no
handler runs, as when a Pod or node is lost), then the same trial runs again in the same folder.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import bucket, layout, trial_checkpoints
from tunesweep_evidence.documents import CheckpointRecord, RunManifest
from tunesweep_trainer.checkpointing import CheckpointPolicy, Donor
from tunesweep_trainer.errors import TrialSuperseded
from tunesweep_trainer.trial import TrialIdentity, TrialStopped, run_trial

from tests.trainer import evidence_files

LOST = 86
FLAX: dict[str, Any] = {
    "training": {"max_steps": 24, "report_every_steps": 4, "warmup_steps": 2, "per_device_batch_size": 8},
    "data": {"train_size": 256, "eval_size": 8, "test_size": 8, "rung_size": 4},
}
MOCK: dict[str, Any] = {"training": {"max_steps": 300, "report_every_steps": 20}}
IDENTITY = TrialIdentity(tuning_job_id="sweep-uid", trial_id="t0")
KEEP_2 = CheckpointPolicy(keep=2)
KEEP_1 = CheckpointPolicy(keep=1)


def run_until_lost(backend: str, config: dict[str, Any], out: Path, lost_at: int, keep: int = 2) -> None:
    """Run the trial in a subprocess that dies at the report of step `lost_at`."""
    script = textwrap.dedent(
        f"""
        import json, os, sys
        from tunesweep_trainer.checkpointing import CheckpointPolicy
        from tunesweep_trainer.trial import TrialIdentity, run_trial

        def report(metrics):
            if metrics["step"] == {lost_at}:
                os._exit({LOST})

        run_trial({backend!r}, json.loads(sys.argv[1]), sys.argv[2], report=report,
                  identity=TrialIdentity(tuning_job_id="sweep-uid", trial_id="t0"),
                  checkpoints=CheckpointPolicy(keep={keep}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script, json.dumps(config), str(out)], check=False)
    assert done.returncode == LOST


def checkpoint_steps(out: Path) -> list[int]:
    return [record.step for record in trial_checkpoints.complete(str(out))]


def test_a_mock_trial_lost_mid_way_resumes_from_its_newest_checkpoint(tmp_path: Path) -> None:
    run_until_lost("mock", MOCK, tmp_path / "lost", lost_at=140)
    # saved at each report step before reporting it, up to 140 (whose report never returned), the
    # newest 2 kept
    assert checkpoint_steps(tmp_path / "lost") == [120, 140]
    lost, _, _ = evidence_files.read(tmp_path / "lost")
    assert lost.status == "running" and [c.step for c in lost.checkpoints] == [120, 140]

    reports: list[dict[str, Any]] = []
    resumed = run_trial(
        "mock",
        MOCK,
        str(tmp_path / "lost"),
        identity=IDENTITY,
        report=reports.append,
        checkpoints=KEEP_2,
    )
    fresh = run_trial("mock", MOCK, str(tmp_path / "fresh"), identity=IDENTITY)

    manifest, lines, _ = evidence_files.read(tmp_path / "lost")
    assert manifest.status == "succeeded"
    assert [(a.resumed_from_step, a.host) for a in manifest.attempts] == [
        (0, lost.host.hostname),
        (140, manifest.host.hostname),
    ]
    assert manifest.started_at == lost.started_at
    # the steps after 140 ran, once; the lines up to it are the first attempt's
    assert [r["step"] for r in reports] == [*range(160, 300, 20), 300]
    assert [line.step for line in lines] == list(range(20, 301, 20))
    assert resumed.primary_score == fresh.primary_score
    assert [c.step for c in manifest.checkpoints] == [280, 300] == checkpoint_steps(tmp_path / "lost")


def test_a_flax_trial_killed_and_resumed_ends_as_one_never_interrupted(tmp_path: Path) -> None:
    run_until_lost("flax-lm", FLAX, tmp_path / "lost", lost_at=16)
    assert checkpoint_steps(tmp_path / "lost") == [12, 16]
    record = trial_checkpoints.latest(str(tmp_path / "lost"))
    assert record is not None and record.data_position == 16 * 8 and record.rng == {"data_seed": 0}
    # the trainable state only (every parameter of this full fine-tune, and AdamW's moments)
    assert {path.split("/", 1)[0] for path in record.files} >= {"model_params", "optimizer_state"}

    run_trial("flax-lm", FLAX, str(tmp_path / "lost"), identity=IDENTITY, checkpoints=KEEP_2)
    run_trial("flax-lm", copy.deepcopy(FLAX), str(tmp_path / "never"), identity=IDENTITY)

    manifest, lines, summary = evidence_files.read(tmp_path / "lost")
    never, never_lines, never_summary = evidence_files.read(tmp_path / "never")
    assert summary is not None and never_summary is not None
    assert [a.resumed_from_step for a in manifest.attempts] == [0, 16] and len(never.attempts) == 1
    # the same losses at every report step, the same predictions, the same score
    assert [(line.step, line.loss) for line in lines] == [(line.step, line.loss) for line in never_lines]
    assert [row.prediction for row in summary.rows] == [row.prediction for row in never_summary.rows]
    assert summary.primary_score == never_summary.primary_score


def test_a_lora_trial_checkpoints_only_its_adapters_and_optimizer_state(tmp_path: Path) -> None:
    config = copy.deepcopy(FLAX)
    config["model"] = {"lora": {"rank": 2, "alpha": 4.0}}
    config["training"]["max_steps"] = 8
    run_trial("flax-lm", config, str(tmp_path / "lora"), identity=IDENTITY, checkpoints=KEEP_1)
    full = copy.deepcopy(FLAX)
    full["training"]["max_steps"] = 8
    run_trial("flax-lm", full, str(tmp_path / "full"), identity=IDENTITY, checkpoints=KEEP_1)
    lora, everything = (trial_checkpoints.latest(str(tmp_path / name)) for name in ("lora", "full"))
    assert lora is not None and everything is not None and lora.step == everything.step == 8
    size = {name: sum(f.size for f in r.files.values()) for name, r in (("lora", lora), ("full", everything))}
    assert size["lora"] * 4 < size["full"], size


def test_a_checkpoint_whose_file_changed_is_refused_by_name(tmp_path: Path) -> None:
    run_until_lost("mock", MOCK, tmp_path, lost_at=60)
    (newest,) = [r for r in trial_checkpoints.complete(str(tmp_path)) if r.step == 60]
    state = tmp_path / trial_checkpoints.folder(60) / "state.json"
    state.write_text('{"step": 600, "history": []}')
    with pytest.raises(trial_checkpoints.CheckpointError, match=r"step-000000060/state.json: sha256"):
        run_trial("mock", MOCK, str(tmp_path), identity=IDENTITY, checkpoints=KEEP_2)
    assert isinstance(newest, CheckpointRecord)


def test_checkpoints_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """A folder without its checkpoint.json (a save killed mid-upload) is never resumed from, and the
    next save removes it."""
    run_until_lost("mock", MOCK, tmp_path, lost_at=60, keep=3)
    half = layout.join(str(tmp_path), trial_checkpoints.folder(80))
    bucket.write_text(layout.join(half, "state.json"), '{"step": 80, "history": []}')
    assert checkpoint_steps(tmp_path) == [20, 40, 60]
    run_trial("mock", MOCK, str(tmp_path), identity=IDENTITY, checkpoints=CheckpointPolicy(keep=3))
    assert checkpoint_steps(tmp_path) == [260, 280, 300]
    assert bucket.list_dir(layout.join(str(tmp_path), layout.CHECKPOINTS)) == [
        "step-000000260",
        "step-000000280",
        "step-000000300",
    ]
    manifest = bucket.read_document(layout.join(str(tmp_path), layout.RUN_MANIFEST), RunManifest)
    assert [a.resumed_from_step for a in manifest.attempts] == [0, 60]


def test_a_flax_trial_goes_on_from_another_trial_s_checkpoint_with_its_own_params(tmp_path: Path) -> None:
    """PBT's exploit: trial a, paused at step 8, goes on from trial b's step-8 checkpoint with a new
    learning rate, exactly as a trial that never trained would from that checkpoint."""
    pinned = CheckpointPolicy(keep=1, pinned=frozenset({8}))

    def config(rate: float) -> dict[str, Any]:
        changed = copy.deepcopy(FLAX)
        changed["training"]["learning_rate"] = rate
        return changed

    def trial(trial_id: str, rate: float) -> TrialIdentity:
        params = {"training.learning_rate": rate}
        return TrialIdentity(tuning_job_id="sweep-uid", trial_id=trial_id, params=params)

    def paused_at_8(metrics: dict[str, Any]) -> None:
        if metrics["step"] == 8:
            raise TrialStopped("paused by PBT")

    trials = tmp_path / "trials"
    run_trial("flax-lm", config(3e-3), str(trials / "b"), identity=trial("b", 3e-3), checkpoints=pinned)
    with pytest.raises(TrialStopped):
        run_trial(
            "flax-lm",
            config(1e-4),
            str(trials / "a"),
            identity=trial("a", 1e-4),
            checkpoints=pinned,
            report=paused_at_8,
        )
    donor = Donor(trial_id="b", folder=trial_checkpoints.folder(8))
    for name in ("a", "fresh"):
        run_trial(
            "flax-lm",
            config(1e-2),
            str(trials / name),
            identity=trial(name, 1e-2),
            checkpoints=pinned,
            donor=donor,
        )

    # b kept its step-8 checkpoint (pinned) beside its newest
    assert [r.step for r in trial_checkpoints.complete(str(trials / "b"))] == [8, 24]
    a, a_lines, _ = evidence_files.read(trials / "a")
    fresh, fresh_lines, _ = evidence_files.read(trials / "fresh")
    _, b_lines, _ = evidence_files.read(trials / "b")
    source = a.segments[1].source
    assert source is not None and (source.trial_id, source.step) == ("b", 8)
    assert [(s.from_step, s.params) for s in a.segments] == [
        (0, {"training.learning_rate": 1e-4}),
        (8, {"training.learning_rate": 1e-2}),
    ]
    assert a.params == {"training.learning_rate": 1e-2} and a.attempts[-1].after == "stopped"
    # up to step 8 a's own reports; after it, the same training as any trial from b's step 8
    assert [line.loss for line in a_lines if line.step <= 8] != [
        line.loss for line in b_lines if line.step <= 8
    ]
    after = [(line.step, line.loss, line.learning_rate) for line in a_lines if line.step > 8]
    assert after == [(line.step, line.loss, line.learning_rate) for line in fresh_lines if line.step > 8]
    assert after != [(line.step, line.loss, line.learning_rate) for line in b_lines if line.step > 8]
    assert a.segments[1].source == fresh.segments[-1].source


def test_an_older_start_stops_once_a_newer_start_owns_the_folder(tmp_path: Path) -> None:
    """A Pod being deleted trains on through its grace period while the re-admitted sweep may start
    the same trial again: the older start must not write over the newer one's evidence."""
    manifest_uri = str(tmp_path / layout.RUN_MANIFEST)
    newer: dict[str, RunManifest] = {}

    def a_newer_start_takes_over(metrics: dict[str, Any]) -> None:
        if metrics["step"] == 100:
            started = bucket.read_document(manifest_uri, RunManifest)
            newer["manifest"] = started.model_copy(update={"run_id": "newer", "checkpoints": []})
            bucket.write_document(manifest_uri, newer["manifest"])
            bucket.write_jsonl(str(tmp_path / layout.METRICS), [])

    with pytest.raises(TrialSuperseded, match="run newer of this trial started after this one"):
        run_trial(
            "mock",
            MOCK,
            str(tmp_path),
            identity=IDENTITY,
            report=a_newer_start_takes_over,
            checkpoints=KEEP_2,
        )
    # nothing written after the takeover: not the next metrics line, checkpoint or end
    assert bucket.read_document(manifest_uri, RunManifest) == newer["manifest"]
    assert (tmp_path / layout.METRICS).read_text() == ""
    assert checkpoint_steps(tmp_path) == [80, 100]
