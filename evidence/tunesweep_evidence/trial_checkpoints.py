"""A trial's checkpoints, in its evidence folder: `checkpoints/step-<step>/`.

A checkpoint is complete exactly when its `checkpoint.json` is there: it is written after every
file it lists (with their sha256), so a writer killed mid-upload leaves a folder nobody resumes
from. After each save the trial keeps its newest `keep` complete checkpoints, and those at its
`pinned` steps (PBT's perturbation steps, which other trials may go on from), and removes the rest
(and any unfinished folder). A resumed trial copies the newest complete one to a local folder,
checking every digest (`fetch`). A PBT trial's later segments save apart from its first
(`seg<k>-step-<step>`): the same step can come again in a new segment.

`save_steps` (pure) says which report steps save.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import bucket, layout
from .documents import CheckpointRecord, CheckpointRef, FileDigest, RunManifest
from .wording import counted

_PREFIX = "step-"
_SEGMENT_PREFIX = "seg"
_CHUNK = 8 * 2**20


class CheckpointError(Exception):
    """A checkpoint that cannot be resumed from: the message names the file and what is wrong."""


def save_steps(report_steps: Collection[int], every_steps: int | None) -> frozenset[int]:
    """The report steps a trial saves at: all of them, or those that are multiples of `every_steps`."""
    return frozenset(s for s in report_steps if every_steps is None or s % every_steps == 0)


def folder(step: int, segment: int = 0) -> str:
    """A checkpoint's folder, relative to its trial's folder (zero-padded: listed in order)."""
    name = f"{_PREFIX}{step:09d}"
    return f"{layout.CHECKPOINTS}/{name if segment == 0 else f'{_SEGMENT_PREFIX}{segment:03d}-{name}'}"


def folder_of(record: CheckpointRecord) -> str:
    return folder(record.step, record.segment)


def write(
    trial_uri: str,
    step: int,
    state: Path,
    *,
    data_position: int,
    elapsed_s: float,
    keep: int,
    rng: dict[str, Any] | None = None,
    segment: int = 0,
    pinned: Collection[int] = (),
) -> tuple[CheckpointRecord, list[CheckpointRecord]]:
    """Upload the files below the local folder `state` as the checkpoint of `step` (of `segment`),
    then its checkpoint.json, then prune to the newest `keep` and those at `pinned` steps; returns
    the checkpoint, and the trial's complete checkpoints the prune kept (oldest first)."""
    started = time.monotonic()
    target = layout.join(trial_uri, folder(step, segment))
    bucket.remove_tree(target)  # what a killed earlier save of this step left
    files: dict[str, FileDigest] = {}
    for path in sorted(p for p in state.rglob("*") if p.is_file()):
        relative = path.relative_to(state).as_posix()
        files[relative] = _digest(path)
        bucket.copy_from_file(path, layout.join(target, relative))
    record = CheckpointRecord(
        step=step,
        segment=segment,
        files=files,
        data_position=data_position,
        rng=rng or {},
        elapsed_s=elapsed_s,
        saved_at=_now(),
        save_s=time.monotonic() - started,
    )
    bucket.write_document(layout.join(target, layout.CHECKPOINT_RECORD), record)
    return record, _prune(trial_uri, keep, pinned)


def complete(trial_uri: str) -> list[CheckpointRecord]:
    """The trial's complete checkpoints, oldest first (by segment, then step)."""
    found = []
    for name in bucket.list_dir(layout.join(trial_uri, layout.CHECKPOINTS)):
        if not name.startswith((_PREFIX, _SEGMENT_PREFIX)):
            continue
        record_uri = layout.join(trial_uri, layout.CHECKPOINTS, name, layout.CHECKPOINT_RECORD)
        if bucket.exists(record_uri):
            found.append(bucket.read_document(record_uri, CheckpointRecord))
    return sorted(found, key=_order)


def latest(trial_uri: str, segment: int | None = None) -> CheckpointRecord | None:
    """The newest complete checkpoint (of `segment`, if given)."""
    records = [r for r in complete(trial_uri) if segment is None or r.segment == segment]
    return records[-1] if records else None


def read(trial_uri: str, relative_folder: str) -> CheckpointRecord:
    """The checkpoint.json of the checkpoint at `relative_folder` of the trial (ObjectNotFound if
    there is none: not complete, or removed)."""
    uri = layout.join(trial_uri, relative_folder, layout.CHECKPOINT_RECORD)
    return bucket.read_document(uri, CheckpointRecord)


def record_sha256(trial_uri: str, relative_folder: str) -> str:
    data = bucket.read_bytes(layout.join(trial_uri, relative_folder, layout.CHECKPOINT_RECORD))
    return hashlib.sha256(data).hexdigest()


def fetch(trial_uri: str, record: CheckpointRecord, local: Path) -> Path:
    """Copy the checkpoint to the local folder `local` (emptied first), every file checked against
    its digest; returns `local`."""
    source = layout.join(trial_uri, folder_of(record))
    for path in sorted(local.rglob("*"), reverse=True) if local.exists() else []:
        path.unlink() if path.is_file() else path.rmdir()
    for relative, expected in record.files.items():
        path = local / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        bucket.copy_to_file(layout.join(source, relative), path)
        found = _digest(path)
        if found != expected:
            raise CheckpointError(
                f"{layout.join(source, relative)}: sha256 {found.sha256[:12]}… ({found.size} bytes) is not "
                f"the {expected.sha256[:12]}… ({expected.size} bytes) its {layout.CHECKPOINT_RECORD} "
                "recorded; remove that checkpoint's folder to resume from the one before it"
            )
    return local


def refs(records: Collection[CheckpointRecord]) -> list[CheckpointRef]:
    """The run_manifest.json entries of `records`."""
    return [
        CheckpointRef(step=r.step, folder=folder_of(r), bytes=size(r), save_s=r.save_s)
        for r in sorted(records, key=_order)
    ]


def manifest_problems(trial_uri: str, manifest: RunManifest) -> list[str]:
    """What is wrong with the checkpoints and starts a trial's run_manifest.json records: each listed
    checkpoint must be complete in its folder, of the step and size listed; each restart resumed
    from a step the trial reached, after the start before it."""
    problems = []
    by_folder = {folder_of(record): record for record in complete(trial_uri)}
    for ref in manifest.checkpoints:
        record = by_folder.get(ref.folder)
        if record is None or record.step != ref.step:
            where = f"checkpoints lists step {ref.step} at {ref.folder}"
            problems.append(f"{where}: no complete checkpoint there")
        elif ref.bytes != size(record):
            problems.append(
                f"checkpoints lists step {ref.step} with {ref.bytes} bytes; its {layout.CHECKPOINT_RECORD} "
                f"lists {size(record)}"
            )
    for number, (before, after) in enumerate(itertools.pairwise(manifest.attempts), 2):
        if after.started_at < before.started_at:
            problems.append(f"attempt {number} started at {after.started_at}, before attempt {number - 1}")
    max_steps = int(manifest.config.get("training", {}).get("max_steps") or 0)
    for number, attempt in enumerate(manifest.attempts, 1):
        if max_steps and attempt.resumed_from_step > max_steps:
            problems.append(
                f"attempt {number} resumed from step {attempt.resumed_from_step}, past training.max_steps "
                f"{max_steps}"
            )
    return problems


def size(record: CheckpointRecord) -> int:
    """The bytes of the checkpoint's files."""
    return sum(f.size for f in record.files.values())


def describe(record: CheckpointRecord) -> str:
    return f"step {record.step} ({counted(len(record.files), 'file')}, {size(record)} bytes)"


def _prune(trial_uri: str, keep: int, pinned: Collection[int]) -> list[CheckpointRecord]:
    records = complete(trial_uri)
    newest = records[-keep:] if keep else []
    kept = {folder_of(r) for r in [*newest, *(r for r in records if r.step in pinned)]}
    for name in bucket.list_dir(layout.join(trial_uri, layout.CHECKPOINTS)):
        if f"{layout.CHECKPOINTS}/{name}" not in kept:
            bucket.remove_tree(layout.join(trial_uri, layout.CHECKPOINTS, name))
    return [r for r in records if folder_of(r) in kept]


def _order(record: CheckpointRecord) -> tuple[int, int]:
    return (record.segment, record.step)


def _digest(path: Path) -> FileDigest:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return FileDigest(sha256=sha.hexdigest(), size=size)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
