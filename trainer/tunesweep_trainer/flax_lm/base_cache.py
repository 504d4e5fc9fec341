"""The frozen base model of LoRA trials, kept in the trial process for the next trial.

Ray Tune runs many trials in turn in one worker process (`sweep/tuner.py` REUSE_TRIAL_PROCESSES), and
a LoRA trial never changes its base weights: the next trial with the same base takes them from here
instead of reading the checkpoint again, and gets only new adapters and a new optimizer state.

Each trial gets a module of its own (new `nnx.Variable`s, `nnx.merge(copy=True)`) over the same
arrays, so nothing a trial sets on its module reaches the kept state. The arrays themselves are
never written: JAX arrays are immutable, qwix adds the adapters to a clone, a LoRA train step
replaces only the adapters' values (PeftTrainer trains `nnx.LoRAParam` and donates only the
optimizer state, which holds no base array), and the sampler donates only its KV cache. The
copies of the base a train step returns are dropped after each step (`training.fine_tune`), so the
kept base is on the devices once, not beside a trial's own copy.

One base at most: it holds device memory for as long as the process lives, and a second base of
the size that matters would not fit beside the first one and a trial's training. A trial of
another base, or a full fine-tune (which trains a copy of every weight), drops it first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from flax import nnx
from jax.sharding import Mesh
from tunesweep_evidence.checkpoint_files import read_files
from tunesweep_evidence.documents import BaseModelUse

from .tokenizers import Tokenizer


@dataclass(frozen=True)
class BaseKey:
    """Everything the base weights depend on: same key, same arrays."""

    name: str
    checkpoint: str | None
    files: tuple[tuple[str, int, int], ...]
    """The checkpoint folder's files a trial reads: (name, size, mtime_ns); empty without one."""
    dtype: str
    devices: tuple[int, ...]
    mesh_shape: tuple[tuple[str, int], ...]
    seed: int | None
    """The seed of a randomly initialised model; None when the weights come from a checkpoint."""


def base_key(
    name: str, checkpoint: str | None, folder: str | None, dtype: str, seed: int, mesh: Mesh | None
) -> BaseKey:
    return BaseKey(
        name=name,
        checkpoint=checkpoint,
        files=() if folder is None else _identity(folder),
        dtype=dtype,
        devices=() if mesh is None else tuple(int(device.id) for device in mesh.devices.flat),
        mesh_shape=() if mesh is None else tuple(mesh.shape.items()),
        seed=seed if checkpoint is None else None,
    )


@dataclass(frozen=True)
class _Kept:
    key: BaseKey
    graph: nnx.GraphDef[nnx.Module]
    state: nnx.State
    tokenizer: Tokenizer


_kept: _Kept | None = None


Load = Callable[[], tuple[nnx.Module, Tokenizer]]
"""Loads a base model and its tokenizer, the model placed as trials use it."""


def base(key: BaseKey, load: Load) -> tuple[nnx.Module, Tokenizer, BaseModelUse]:
    """A module of its own over the base `key` names: the one this process keeps, else loaded by
    `load` and kept for the next trial."""
    global _kept
    started = time.perf_counter()
    kept = _kept if _kept is not None and _kept.key == key else None
    cached = kept is not None
    if kept is None:
        model, tokenizer, _ = load_own(load)
        graph, state = nnx.split(model)
        kept = _kept = _Kept(key, graph, state, tokenizer)
    model = nnx.merge(kept.graph, kept.state, copy=True)
    return model, kept.tokenizer, BaseModelUse(cached=cached, load_s=time.perf_counter() - started)


def load_own(load: Load) -> tuple[nnx.Module, Tokenizer, BaseModelUse]:
    """A base loaded for one trial only, the kept one dropped first: the old and the new base need
    not fit on the devices at once."""
    drop()
    started = time.perf_counter()
    model, tokenizer = load()
    return model, tokenizer, BaseModelUse(cached=False, load_s=time.perf_counter() - started)


def drop() -> None:
    """Forget the kept base, so that its device memory is freed once no trial uses it."""
    global _kept
    _kept = None


def _identity(folder: str) -> tuple[tuple[str, int, int], ...]:
    """A changed file in the folder (a checkpoint copied again) changes its size or mtime."""
    stats = ((name, os.stat(os.path.join(folder, name))) for name in read_files(os.listdir(folder)))
    return tuple((name, stat.st_size, stat.st_mtime_ns) for name, stat in stats)
