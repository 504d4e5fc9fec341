"""A trial's checkpoints in the bucket: complete only with their checkpoint.json, pruned to the newest,
fetched with every digest checked; on file:// and on a real S3-compatible server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import bucket, digests, layout, trial_checkpoints
from tunesweep_evidence.documents import CheckpointRef, RunManifest, TrialAttempt

from tests.evidence.conftest import S3Endpoint


def state_folder(tmp_path: Path, step: int) -> Path:
    folder = tmp_path / f"local-{step}"
    (folder / "model_params").mkdir(parents=True)
    (folder / "model_params" / "data").write_bytes(bytes([step % 256]) * (1000 + step))
    (folder / "_METADATA").write_text(f'{{"step": {step}}}')
    return folder


def save(trial_uri: str, tmp_path: Path, step: int, keep: int = 2) -> None:
    state = state_folder(tmp_path, step)
    trial_checkpoints.write(trial_uri, step, state, data_position=step * 8, elapsed_s=float(step), keep=keep)


def manifest_listing(trial_uri: str, **fields: Any) -> RunManifest:
    """A 30-step trial's run manifest listing the trial's complete checkpoints; `fields` replace."""
    listed = trial_checkpoints.refs(trial_checkpoints.complete(trial_uri))
    return RunManifest.model_validate(
        {
            "run_id": "r",
            "trial_id": "t0",
            "backend": "mock",
            "config": {"training": {"max_steps": 30}},
            "seed": 0,
            "host": {"hostname": "h", "python": "3.11", "accelerator": {"platform": "cpu"}},
            "started_at": "2026-12-01T08:00:00+00:00",
            "checkpoints": [ref.model_dump() for ref in listed],
            **fields,
        }
    )


def test_save_steps_are_the_report_steps_on_every_steps() -> None:
    assert trial_checkpoints.save_steps([10, 20, 25, 30], None) == {10, 20, 25, 30}
    assert trial_checkpoints.save_steps([10, 20, 25, 30], 20) == {20}
    assert trial_checkpoints.folder(40) == "checkpoints/step-000000040"


@pytest.mark.parametrize("store", ["file", "s3"])
def test_the_newest_complete_checkpoints_are_kept_and_fetched_whole(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if store == "s3":
        endpoint: S3Endpoint = request.getfixturevalue("s3_server")
        trial_uri = f"{endpoint.uri}/sweep/trials/t0"
    else:
        trial_uri = str(tmp_path / "trials" / "t0")
    for step in (10, 20, 30):
        save(trial_uri, tmp_path, step)
    assert [r.step for r in trial_checkpoints.complete(trial_uri)] == [20, 30]
    newest = trial_checkpoints.latest(trial_uri)
    assert newest is not None and newest.step == 30 and newest.data_position == 240
    assert newest.files["model_params/data"].size == 1030

    local = trial_checkpoints.fetch(trial_uri, newest, tmp_path / "fetched")
    assert (local / "model_params" / "data").read_bytes() == bytes([30]) * 1030
    assert (local / "_METADATA").read_text() == '{"step": 30}'
    assert [ref.step for ref in trial_checkpoints.refs([newest])] == [30]


def test_a_folder_without_its_record_is_no_checkpoint_and_the_next_save_removes_it(tmp_path: Path) -> None:
    trial_uri = str(tmp_path / "t0")
    save(trial_uri, tmp_path, 10)
    half = layout.join(trial_uri, trial_checkpoints.folder(20))
    bucket.write_text(layout.join(half, "model_params/data"), "partial")
    assert [r.step for r in trial_checkpoints.complete(trial_uri)] == [10]
    save(trial_uri, tmp_path, 30, keep=1)
    assert bucket.list_dir(layout.join(trial_uri, layout.CHECKPOINTS)) == ["step-000000030"]


def test_a_changed_file_is_refused_by_name_and_digest(tmp_path: Path) -> None:
    trial_uri = str(tmp_path / "t0")
    save(trial_uri, tmp_path, 10)
    (tmp_path / "t0" / "checkpoints" / "step-000000010" / "model_params" / "data").write_bytes(b"other")
    record = trial_checkpoints.latest(trial_uri)
    assert record is not None
    changed = r"step-000000010/model_params/data: sha256 \w+"
    with pytest.raises(trial_checkpoints.CheckpointError, match=changed):
        trial_checkpoints.fetch(trial_uri, record, tmp_path / "fetched")


def test_the_manifest_must_list_what_the_checkpoints_hold(tmp_path: Path) -> None:
    trial_uri = str(tmp_path / "t0")
    save(trial_uri, tmp_path, 10)
    save(trial_uri, tmp_path, 20)
    refs = trial_checkpoints.refs(trial_checkpoints.complete(trial_uri))
    manifest = manifest_listing(
        trial_uri,
        status="succeeded",
        attempts=[
            TrialAttempt(started_at="2026-12-01T08:00:00+00:00").model_dump(),
            TrialAttempt(started_at="2026-12-01T08:01:00+00:00", resumed_from_step=20).model_dump(),
        ],
    )
    assert trial_checkpoints.manifest_problems(trial_uri, manifest) == []

    bucket.remove_tree(layout.join(trial_uri, trial_checkpoints.folder(10)))
    wrong_size = CheckpointRef(step=20, folder=trial_checkpoints.folder(20), bytes=1, save_s=0.0)
    late = TrialAttempt(started_at="2026-12-01T07:59:00+00:00", resumed_from_step=40)
    listed = {"checkpoints": [refs[0], wrong_size], "attempts": [*manifest.attempts, late]}
    assert trial_checkpoints.manifest_problems(trial_uri, manifest.model_copy(update=listed)) == [
        "checkpoints lists step 10 at checkpoints/step-000000010: no complete checkpoint there",
        "checkpoints lists step 20 with 1 bytes; its checkpoint.json lists 1032",
        "attempt 3 started at 2026-12-01T07:59:00+00:00, before attempt 2",
        "attempt 3 resumed from step 40, past training.max_steps 30",
    ]


def test_digests_cover_each_checkpoint_record_not_its_state_files(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    save(str(root / "trials" / "t0"), tmp_path, 10)
    bucket.write_text(str(root / "trials" / "t0" / layout.RUN_MANIFEST), "{}")
    assert digests.evidence_files(str(root)) == [
        "trials/t0/checkpoints/step-000000010/checkpoint.json",
        "trials/t0/run_manifest.json",
    ]


def test_a_local_file_is_copied_whole_or_not_at_all(tmp_path: Path) -> None:
    source = tmp_path / "big"
    source.write_bytes(b"x" * (3 * 2**20 + 5))
    bucket.copy_from_file(source, str(tmp_path / "out" / "copy"))
    assert (tmp_path / "out" / "copy").read_bytes() == source.read_bytes()
    with pytest.raises(bucket.BucketError, match=r"big2 is missing"):
        bucket.copy_from_file(tmp_path / "big2", str(tmp_path / "out" / "none"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["copy"]
