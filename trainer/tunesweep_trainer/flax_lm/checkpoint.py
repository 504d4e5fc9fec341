"""Checkpoint folders on local disk or in a bucket (Hugging Face layout: `*.safetensors` + `tokenizer.model`).

A bucket checkpoint is copied once into a local cache (`TUNESWEEP_CHECKPOINT_CACHE`, default
`~/.cache/tunesweep/checkpoints`; on a cluster the Ray Pods' emptyDir) keyed by its URI, so the trials
on one node read it once. The copy streams each file (`bucket.copy_to_file`: bounded memory, a
temporary name renamed when complete) and writes `.complete` last, so a copy that died midway is never
taken for a checkpoint. One copier at a time per checkpoint (an flock on `<key>.lock` beside the
folder): a trial that waited finds the copy complete; one that finds an incomplete folder removes it
and starts over.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tunesweep_evidence import bucket
from tunesweep_evidence.checkpoint_files import CACHE_ENV, has_weights, read_files

__all__ = ["CACHE_ENV", "CheckpointError", "cache_folder", "local_folder"]
_COMPLETE = ".complete"


class CheckpointError(ValueError):
    """A checkpoint folder that is missing or holds no weights."""


def local_folder(uri: str) -> str:
    """A local folder holding the checkpoint's files (the folder itself for a local path)."""
    local = bucket.local_path(uri)
    folder = local if local is not None else _download(uri)
    if not os.path.isdir(folder):
        raise CheckpointError(f"checkpoint {uri}: no such folder")
    if not has_weights(os.listdir(folder)):
        raise CheckpointError(f"checkpoint {uri}: no *.safetensors weights in the folder")
    return folder


def cache_folder(uri: str) -> Path:
    """Where the copy of the bucket checkpoint `uri` lives."""
    cache = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tunesweep" / "checkpoints")
    return cache / hashlib.sha256(uri.encode()).hexdigest()[:16]


def _download(uri: str) -> str:
    target = cache_folder(uri)
    if (target / _COMPLETE).exists():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target.with_name(f"{target.name}.lock")):
        if (target / _COMPLETE).exists():  # another trial copied it while this one waited
            return str(target)
        names = read_files(bucket.list_dir(uri))
        if not has_weights(names):
            raise CheckpointError(f"checkpoint {uri}: no *.safetensors weights in the folder")
        shutil.rmtree(target, ignore_errors=True)  # what a copy that died midway left
        for name in names:
            bucket.copy_to_file(f"{uri.rstrip('/')}/{name}", target / name)
        bucket.write_text(str(target / _COMPLETE), uri)
    return str(target)


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Holds an exclusive flock on `lock`; the kernel drops it when the process dies."""
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
