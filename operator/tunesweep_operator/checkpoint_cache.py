"""The trial Pods' checkpoint cache: where the trainer copies a bucket checkpoint, and the disk the Pod
asks for. Pure.

A `flax-lm` trial whose `model.checkpoint` is in a bucket (s3://, gs://) copies the files it reads
(`checkpoint_files.read_files`) into TUNESWEEP_CHECKPOINT_CACHE before loading them. On the Pods that
run trials (the workers, or the head when it runs them) that folder is an emptyDir mounted at
CHECKPOINT_CACHE_DIR, not the container's writable layer, and the Ray container requests
ephemeral-storage for it, so that the scheduler picks a node with the disk and the kubelet does not
evict the Pod first under disk pressure:
- the emptyDir's sizeLimit: the bytes of every bucket checkpoint the sweep's trials may load (a Pod
  runs trials one after another and keeps each copy), plus CACHE_MARGIN (a checkpoint re-uploaded a
  little larger while the sweep runs);
- the request: the sizeLimit plus CONTAINER_MARGIN_BYTES for what the container writes besides (Ray's
  session logs and object spill under /tmp).
A checkpoint on a path or file:// is read in place: no cache, no request. When its sizes cannot be
listed, the emptyDir has no sizeLimit and the container no request (the handler posts a Warning
Event: `unknown_size_message`). An ephemeral-storage request or limit from a pod overlay (the
chart's or the sweep's) is the user's choice and is kept as it is.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping
from typing import Any

from tunesweep_evidence import bucket
from tunesweep_evidence.checkpoint_files import CACHE_ENV, has_weights, read_files
from tunesweep_evidence.pod_overlay import CHECKPOINT_CACHE_DIR, HEAD_CONTAINER, WORKER_CONTAINER
from tunesweep_evidence.spec import SearchDimension, TuningSweepSpec
from tunesweep_evidence.trial_config import ConfigFoldError, fold_params

CHECKPOINT_CACHE_VOLUME = "tunesweep-checkpoint-cache"
CHECKPOINT_PATH = "model.checkpoint"
CHECKPOINT_BACKEND = "flax-lm"
"""The backend that loads `model.checkpoint`."""
EPHEMERAL_STORAGE = "ephemeral-storage"
CACHE_MARGIN = 0.05
CONTAINER_MARGIN_BYTES = 2 * 2**30


class CheckpointSizeUnknown(Exception):
    """A checkpoint whose listing holds no weights: nothing to size the cache from."""


def bucket_checkpoints(spec: TuningSweepSpec) -> list[str]:
    """The bucket checkpoints the sweep's trials may copy, sorted: `model.checkpoint` of the base config
    with each choice or grid value of a searched path that sets it (itself or a section above it)."""
    if spec.trainer.backend != CHECKPOINT_BACKEND:
        return []
    searched = {
        path: values
        for path, dimension in spec.search_space.items()
        if _sets_checkpoint(path) and (values := _values(dimension))
    }
    found = set()
    for chosen in itertools.product(*searched.values()):
        try:
            config = fold_params(spec.trainer.base_config, dict(zip(searched, chosen, strict=True)))
        except ConfigFoldError:
            continue  # refused by the spec's own checks
        model = config.get("model")
        uri = model.get("checkpoint") if isinstance(model, dict) else None
        if isinstance(uri, str) and _in_a_bucket(uri):
            found.add(uri)
    return sorted(found)


def cache_bytes(listings: Mapping[str, Mapping[str, int]]) -> int:
    """The bytes the trials copy: the files they read of each checkpoint (its listing: name -> size)."""
    total = 0
    for uri, sizes in listings.items():
        if not has_weights(sizes):
            raise CheckpointSizeUnknown(f"{uri} holds no *.safetensors weights that the operator can see")
        total += sum(sizes[name] for name in read_files(sizes))
    return total


def with_checkpoint_cache(rayjob: Mapping[str, Any], checkpoint_bytes: int | None) -> dict[str, Any]:
    """`rayjob` (as `render_rayjob` renders it) whose trial Pods copy checkpoints into an emptyDir sized
    for `checkpoint_bytes` (None: unknown, so no sizeLimit and no request)."""
    rendered = copy.deepcopy(dict(rayjob))
    cluster = rendered["spec"]["rayClusterSpec"]
    groups = cluster["workerGroupSpecs"] or [cluster["headGroupSpec"]]
    container_name = WORKER_CONTAINER if cluster["workerGroupSpecs"] else HEAD_CONTAINER
    cache_limit = None if checkpoint_bytes is None else math.ceil(checkpoint_bytes * (1 + CACHE_MARGIN))
    for group in groups:
        pod = group["template"]["spec"]
        empty_dir = {} if cache_limit is None else {"sizeLimit": _mebibytes(cache_limit)}
        pod.setdefault("volumes", []).append({"name": CHECKPOINT_CACHE_VOLUME, "emptyDir": empty_dir})
        container = next(c for c in pod["containers"] if c["name"] == container_name)
        container.setdefault("env", []).append({"name": CACHE_ENV, "value": CHECKPOINT_CACHE_DIR})
        container.setdefault("volumeMounts", []).append(
            {"name": CHECKPOINT_CACHE_VOLUME, "mountPath": CHECKPOINT_CACHE_DIR}
        )
        resources = container["resources"]
        users_own = any(EPHEMERAL_STORAGE in resources.get(kind, {}) for kind in ("requests", "limits"))
        if cache_limit is not None and not users_own:
            resources["requests"][EPHEMERAL_STORAGE] = _mebibytes(cache_limit + CONTAINER_MARGIN_BYTES)
    return rendered


def unknown_size_message(uris: list[str], reason: str) -> str:
    """The Warning Event's words when the checkpoints' sizes cannot be read."""
    return (
        f"cannot size the trial Pods' checkpoint cache ({reason}): they copy {', '.join(uris)} into an "
        f"emptyDir at {CHECKPOINT_CACHE_DIR} with no sizeLimit and request no {EPHEMERAL_STORAGE}, so a "
        "node short of disk may evict them. Let the operator's credentials list the checkpoint, or set "
        f"the request by hand (the checkpoint's size plus {CACHE_MARGIN:.0%} plus "
        f"{CONTAINER_MARGIN_BYTES >> 30} GiB) in spec.resources.workerPodTemplate or the chart's "
        f"ray.workerPodTemplate: spec.containers[name={WORKER_CONTAINER}].resources.requests."
        f"{EPHEMERAL_STORAGE} (headPodTemplate and {HEAD_CONTAINER} when the head runs the trials)"
    )


def _sets_checkpoint(path: str) -> bool:
    return path == CHECKPOINT_PATH or CHECKPOINT_PATH.startswith(f"{path}.")


def _values(dimension: SearchDimension) -> list[Any]:
    """The values a dimension may set a checkpoint to: a choice's or a grid's (ranges are numbers)."""
    return list(dimension.choice or dimension.grid or [])


def _mebibytes(size: int) -> str:
    return f"{math.ceil(size / 2**20)}Mi"


def _in_a_bucket(uri: str) -> bool:
    try:
        return bucket.local_path(uri) is None
    except bucket.BucketError:
        return False  # an unsupported URI: the trial refuses it with its own words
