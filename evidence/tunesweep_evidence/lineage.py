"""A PBT trial's lineage (run_manifest.json `segments`), as verify checks it. Pure but for reading the
source checkpoints' records.

Each segment after the first went on from another trial's checkpoint, at the step it started from:
that trial must be of this sweep, and its checkpoint (kept: PBT's perturbation steps are never
pruned) must be the one recorded, byte for byte (its checkpoint.json's sha256). Segments go
forward in steps; each one's params lie in the search space; the last one's are the trial's
params. Each metrics line was trained under the segment that covers its step (`segment_at`), so its
learning rate follows that segment's params.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from . import bucket, layout
from .documents import RunManifest, Segment
from .spec import SearchDimension
from .trial_checks import search_space_problems
from .trial_config import fold_params


def segment_at(segments: list[Segment], step: int) -> Segment:
    """The segment that trained update `step`: the last one that started before it."""
    return [segment for segment in segments if segment.from_step < step][-1]


def config_at(manifest: RunManifest, step: int) -> dict[str, Any]:
    """The config update `step` was trained with: the manifest's, with its segment's params."""
    if not manifest.segments:
        return manifest.config
    return fold_params(manifest.config, segment_at(manifest.segments, step).params)


def lineage_problems(
    manifest: RunManifest,
    trial_uri: Callable[[str], str],
    trial_ids: set[str],
    search_space: Mapping[str, SearchDimension] | None,
) -> list[str]:
    """What is wrong with the manifest's segments; `trial_uri(id)`: a trial's folder."""
    segments = manifest.segments
    if not segments:
        return []
    problems = []
    if segments[0].from_step != 0 or segments[0].source is not None:
        problems.append("segments[0] must start at step 0 from no checkpoint (the trial's own start)")
    for index, (before, segment) in enumerate(itertools.pairwise(segments), 1):
        where = f"segments[{index}]"
        if segment.from_step <= before.from_step:
            problems.append(f"{where} starts at step {segment.from_step}, not after segments[{index - 1}]")
        problems += [f"{where}: {p}" for p in _source_problems(segment, trial_uri, trial_ids)]
    if segments[-1].params != manifest.params:
        problems.append("params are not the last segment's params")
    if search_space is not None:
        for index, segment in enumerate(segments):
            outside = search_space_problems(segment.params, search_space)
            problems += [f"segments[{index}].{problem}" for problem in outside]
    return problems


def _source_problems(segment: Segment, trial_uri: Callable[[str], str], trial_ids: set[str]) -> list[str]:
    source = segment.source
    if source is None:
        return ["no source: a later segment goes on from another trial's checkpoint"]
    if source.trial_id not in trial_ids:
        return [f"source trial {source.trial_id} is no trial of this sweep"]
    if source.step != segment.from_step:
        return [f"source step {source.step} != from_step {segment.from_step}"]
    record_uri = layout.join(trial_uri(source.trial_id), source.folder, layout.CHECKPOINT_RECORD)
    if not bucket.exists(record_uri):
        gone = f"source checkpoint {source.trial_id}/{source.folder} is gone"
        return [f"{gone} (PBT keeps every checkpoint it offers)"]
    found = hashlib.sha256(bucket.read_bytes(record_uri)).hexdigest()
    if found != source.record_sha256:
        return [
            f"source checkpoint {source.trial_id}/{source.folder}: its {layout.CHECKPOINT_RECORD} has sha256 "
            f"{found[:12]}…, not the {source.record_sha256[:12]}… recorded when the segment started"
        ]
    return []
