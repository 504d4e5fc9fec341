"""The trial's device mesh, and FSDP placement of a model's state on it.

One mesh axis spans every device of the trial process: `fsdp`, over which the batch is split (data
parallel) and each weight with it (ZeRO-3: weights, gradients and optimizer state, each device
holding 1/n). The axis names are Tunix's: its Gemma annotates its weights with specs over `fsdp`
and `tp` (`ShardingConfig`: `fsdp` on the embedding dimension; the norms' scales `tp` only, so
whole), qwix's LoRA adapters inherit the spec of the weight they adapt, and PeftTrainer splits the
batch over `data_sharding_axis` (`fsdp` by default). `tp` is kept at size 1: no tensor parallelism.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import jax
import numpy as np
from flax import nnx
from flax.nnx import spmd
from jax.sharding import Mesh, NamedSharding, PartitionSpec

FSDP, TENSOR = "fsdp", "tp"


def trial_mesh() -> Mesh:
    """A mesh over every device this process sees. Under Ray these are only the devices Ray granted
    the trial: Ray sets CUDA_VISIBLE_DEVICES / TPU_VISIBLE_CHIPS for the worker before JAX starts."""
    devices = jax.devices()
    return Mesh(np.array(devices).reshape(len(devices), 1), (FSDP, TENSOR))


@contextmanager
def active(mesh: Mesh) -> Iterator[None]:
    """`mesh` as the current mesh for Tunix, which reads it from JAX's legacy mesh context (PeftTrainer
    shards the batch and optimizer state over it): `with mesh:`, deprecated by JAX in favour of
    `jax.set_mesh`, which Tunix does not read."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "`with mesh:` context manager has been deprecated", DeprecationWarning
        )
        mesh.__enter__()
    try:
        yield
    finally:
        mesh.__exit__(None, None, None)


def fitted_spec(shape: Sequence[int], spec: PartitionSpec, axis_sizes: Mapping[str, int]) -> PartitionSpec:
    """`spec` with every dimension it cannot split evenly left whole (replicated): JAX splits a
    dimension only into equal parts, and the tiny model's 262-token vocabulary or one KV head divide
    few device counts. A spec shorter than the shape leaves the remaining dimensions whole."""
    fitted: list[str | tuple[str, ...] | None] = []
    for size, axes in zip(shape, spec, strict=False):
        names = (axes,) if isinstance(axes, str) else tuple(axes or ())
        parts = int(np.prod([axis_sizes[name] for name in names]))
        fitted.append(axes if names and size % parts == 0 else None)
    return PartitionSpec(*fitted)


def shard_model(model: nnx.Module, mesh: Mesh) -> None:
    """Place each of the model's arrays on the mesh as its (fitted) spec says, in place. The fitted
    spec becomes the variable's sharding metadata too, so the optimizer state that PeftTrainer
    derives from it is placed the same way."""
    for _, variable in nnx.iter_graph(model):
        if not isinstance(variable, nnx.Variable):
            continue
        value = variable.get_value()
        if not isinstance(value, jax.Array):
            continue
        spec = fitted_spec(value.shape, spmd.get_var_pspec(variable) or PartitionSpec(), mesh.shape)
        variable.set_metadata("out_sharding", tuple(spec))
        variable.set_value(jax.device_put(value, NamedSharding(mesh, spec)))
