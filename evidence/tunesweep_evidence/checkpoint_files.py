"""Which files of a Hugging Face-layout checkpoint folder a trial reads: the trainer copies these from
a bucket, and the operator sizes the Ray Pods' checkpoint cache from them. Pure."""

from __future__ import annotations

from collections.abc import Iterable

CACHE_ENV = "TUNESWEEP_CHECKPOINT_CACHE"
"""The local folder the trainer copies bucket checkpoints into (the operator sets it on trial Pods)."""
SENTENCEPIECE_FILE = "tokenizer.model"
WEIGHTS_SUFFIX = ".safetensors"
_READ_SUFFIXES = (WEIGHTS_SUFFIX, ".json")


def read_files(names: Iterable[str]) -> list[str]:
    """The names a trial reads (`*.safetensors`, `*.json`, `tokenizer.model`), sorted."""
    return sorted(n for n in names if n.endswith(_READ_SUFFIXES) or n == SENTENCEPIECE_FILE)


def has_weights(names: Iterable[str]) -> bool:
    return any(n.endswith(WEIGHTS_SUFFIX) for n in names)
