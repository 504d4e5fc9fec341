"""Checkpoint folders on local disk or in a bucket (Hugging Face layout: `*.safetensors` + `tokenizer.model`).

A bucket checkpoint is copied once into a local cache (`TUNESWEEP_CHECKPOINT_CACHE`, default
`~/.cache/tunesweep/checkpoints`) keyed by its URI, so the trials of a sweep on one node read it once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tunesweep_evidence import bucket

from .tokenizers import SENTENCEPIECE_FILE

CACHE_ENV = "TUNESWEEP_CHECKPOINT_CACHE"
_COMPLETE = ".complete"


class CheckpointError(ValueError):
    """A checkpoint folder that is missing or holds no weights."""


def local_folder(uri: str) -> str:
    """A local folder holding the checkpoint's files (the folder itself for a local path)."""
    local = bucket.local_path(uri)
    folder = local if local is not None else _download(uri)
    if not os.path.isdir(folder):
        raise CheckpointError(f"checkpoint {uri}: no such folder")
    if not any(name.endswith(".safetensors") for name in os.listdir(folder)):
        raise CheckpointError(f"checkpoint {uri}: no *.safetensors weights in the folder")
    return folder


def _download(uri: str) -> str:
    cache = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tunesweep" / "checkpoints")
    target = cache / hashlib.sha256(uri.encode()).hexdigest()[:16]
    if (target / _COMPLETE).exists():
        return str(target)
    names = [
        n for n in bucket.list_dir(uri) if n.endswith((".safetensors", ".json")) or n == SENTENCEPIECE_FILE
    ]
    if not names:
        raise CheckpointError(f"checkpoint {uri}: no *.safetensors weights in the folder")
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        bucket.write_bytes(str(target / name), bucket.read_bytes(f"{uri.rstrip('/')}/{name}"))
    (target / _COMPLETE).write_text(uri, encoding="utf-8")
    return str(target)
