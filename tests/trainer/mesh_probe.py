"""Run by tests/trainer/test_mesh.py in a fresh process whose CPU shows as several devices
(XLA_FLAGS=--xla_force_host_platform_device_count=N, read once when JAX starts); prints JSON.

    python -m tests.trainer.mesh_probe trial OUT PER_DEVICE_BATCH  # a tiny flax-lm trial, its evidence in OUT
    python -m tests.trainer.mesh_probe placement                   # where the state of a trained model lies
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from tunesweep_evidence.training_config import LoraConfig, ModelConfig, TrainingSection
from tunesweep_trainer.data import arithmetic
from tunesweep_trainer.flax_lm import batches, mesh, models, training
from tunesweep_trainer.trial import run_trial

TRIAL_STEPS = 24


def trial(out: str, per_device_batch_size: int) -> dict[str, Any]:
    config = {
        "training": {
            "max_steps": TRIAL_STEPS,
            "report_every_steps": 1,
            "warmup_steps": 2,
            "per_device_batch_size": per_device_batch_size,
        },
        "data": {"train_size": 128, "eval_size": 8, "test_size": 4, "rung_size": 4},
        "eval": {"batch_size": 3},  # 4 devices round it up to 4
    }
    outcome = run_trial("flax-lm", config, out, rung_steps=(12,))
    return {"primary_score": outcome.primary_score, "devices": len(jax.devices())}


class _Compiles(logging.Handler):
    """Counts the compilations of Tunix's train step (JAX logs each with jax_log_compiles)."""

    def __init__(self) -> None:
        super().__init__()
        self.train_steps = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.train_steps += record.getMessage().startswith("Compiling jit(_train_step)")


def placement() -> dict[str, Any]:
    """Per trained array (after two updates): its spec and the shape of one device's shard; and how
    often the train step compiled."""
    found: dict[str, Any] = {}
    compiles = _Compiles()
    logging.getLogger("jax._src.interpreters.pxla").addHandler(compiles)
    jax.config.update("jax_log_compiles", True)
    devices = mesh.trial_mesh()
    (records,) = arithmetic.deal(0, [("train_size", 64)])
    encoded = batches.encode(records, models.ByteTokenizer(), "{prompt}\n", 64)
    section = TrainingSection(max_steps=2, warmup_steps=0, per_device_batch_size=2)
    for name, lora in (("full", None), ("lora", LoraConfig(rank=4))):
        with mesh.active(devices):
            model, _ = models.build(ModelConfig(lora=lora), seed=0, mesh=devices)
            trainer = training.trainer_for(model, models.ByteTokenizer.PAD, section, devices)
            global_batch = section.global_batch_size(devices.size)
            trainer.train(itertools.islice(batches.training_batches(encoded, global_batch, 0), 2))
        trained = nnx.LoRAParam if lora else nnx.Param
        found[name] = {
            "params": _layout(nnx.state(model, trained)),
            "optimizer": _layout(nnx.state(trainer.optimizer, nnx.optimizer.OptState)),
            "train_step_compiles": compiles.train_steps,
        }
        compiles.train_steps = 0
    uneven = _Uneven()
    mesh.shard_model(uneven, devices)
    found["uneven"] = _layout(nnx.state(uneven))
    return found


class _Uneven(nnx.Module):
    """A weight whose spec splits a dimension (the tiny vocabulary) that 4 devices do not divide."""

    def __init__(self) -> None:
        self.table = nnx.Param(jnp.ones((262, 96)), out_sharding=(mesh.FSDP, None))


def _layout(state: Any) -> dict[str, Any]:
    layout = {}
    for path, variable in nnx.to_flat_state(state):
        value = variable.get_value()
        if value.ndim == 0:
            continue
        layout["/".join(map(str, path))] = {
            "shape": list(value.shape),
            "shard": list(value.addressable_shards[0].data.shape),
            "spec": [None if axes is None else str(axes) for axes in value.sharding.spec],
            "devices": len(value.sharding.device_set),
        }
    return layout


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = trial(args[0], int(args[1])) if command == "trial" else placement()
    print(json.dumps(result))
