"""The flax-lm trial on a mesh of 4 devices: the CPU split by XLA_FLAGS in a fresh process (JAX reads
the flag once, when it starts), running tests/trainer/mesh_probe.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jax.sharding import PartitionSpec
from tunesweep_evidence.training_config import ModelConfig
from tunesweep_trainer.data import arithmetic
from tunesweep_trainer.data.records import DataError
from tunesweep_trainer.flax_lm import batches, evaluation, models
from tunesweep_trainer.flax_lm.mesh import FSDP, TENSOR, fitted_spec

from tests.trainer import evidence_files

DEVICES = 4
PER_DEVICE_BATCH = 2
LOSS_RTOL = 1e-5
"""4 devices sum each step's gradients and loss in another order than 1 device: float32 rounding
(relative 6e-8 per operation) differs, and the difference carries through the updates. Measured:
at most 2e-7 relative over the 24 steps; 1e-5 allows that growth, and is far below what a wrong
batch (another example order, another size) or a wrong gradient scale would change."""


def _probe(*args: str, devices: int) -> Any:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.trainer.mesh_probe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_spec_leaves_whole_the_dimensions_the_devices_do_not_divide() -> None:
    sizes = {FSDP: 4, TENSOR: 1}
    assert fitted_spec((264, 96), PartitionSpec(TENSOR, FSDP), sizes) == PartitionSpec(TENSOR, FSDP)
    assert fitted_spec((262, 96), PartitionSpec(FSDP, None), sizes) == PartitionSpec(None, None)
    assert fitted_spec((2, 1, 96, 24), PartitionSpec(None, FSDP, None), sizes) == PartitionSpec(
        None, None, None
    )
    assert fitted_spec((96, 8), PartitionSpec((FSDP, TENSOR)), sizes) == PartitionSpec((FSDP, TENSOR))
    assert fitted_spec((6, 8), PartitionSpec((FSDP, TENSOR)), sizes) == PartitionSpec(None)
    assert fitted_spec((96,), PartitionSpec(), sizes) == PartitionSpec()


def test_a_global_batch_larger_than_the_training_records_names_the_fix() -> None:
    (records,) = arithmetic.deal(0, [("train_size", 6)])
    encoded = batches.encode(records, models.ByteTokenizer(), "{prompt}\n", 64)
    with pytest.raises(DataError, match=r"6 training records are fewer than one batch of 8 .*lower "):
        next(batches.training_batches(encoded, 8, 0))


def test_an_evaluation_batch_rounded_up_to_the_devices_generates_the_same() -> None:
    model, tokenizer = models.build(ModelConfig(), seed=0)
    prompts = ["1+2=", "3+4=", "5+6="]

    def generated(devices: int) -> list[str]:
        return evaluation.generate(
            model, tokenizer, prompts, max_generation_steps=6, batch_size=3, devices=devices
        )

    assert generated(DEVICES) == generated(1)
    assert len(generated(1)) == len(prompts)


def test_four_devices_train_as_one_with_the_same_global_batch(tmp_path: Path) -> None:
    four = _probe("trial", str(tmp_path / "four"), str(PER_DEVICE_BATCH), devices=DEVICES)
    one = _probe("trial", str(tmp_path / "one"), str(DEVICES * PER_DEVICE_BATCH), devices=1)
    assert (four["devices"], one["devices"]) == (DEVICES, 1)

    manifest, lines, summary = evidence_files.read(tmp_path / "four")
    assert manifest.status == "succeeded"
    assert manifest.host.accelerator.count == DEVICES
    assert manifest.global_batch_size == DEVICES * PER_DEVICE_BATCH
    # Greedy evaluation ran on the sharded model, at the rung and at the end.
    assert summary is not None and summary.n_examples == 8 and len(summary.test_rows) == 4
    assert [line.step for line in lines if line.rung_score is not None] == [12]

    single, single_lines, _ = evidence_files.read(tmp_path / "one")
    assert (single.host.accelerator.count, single.global_batch_size) == (1, DEVICES * PER_DEVICE_BATCH)
    losses = np.array([line.loss for line in lines], dtype=float)
    single_losses = np.array([line.loss for line in single_lines], dtype=float)
    assert len(losses) == len(single_losses) == 24
    assert losses[-1] < losses[0] - 1.0  # it learned: the curves compared are not flat
    np.testing.assert_allclose(losses, single_losses, rtol=LOSS_RTOL)


def test_weights_adapters_and_optimizer_state_are_split_over_the_devices() -> None:
    layout = _probe("placement", devices=DEVICES)

    def split(entry: dict[str, Any], dim: int) -> bool:
        shard = list(entry["shape"])
        shard[dim] //= DEVICES
        return entry["devices"] == DEVICES and entry["spec"][dim] == FSDP and entry["shard"] == shard

    full = layout["full"]
    # Tunix's Gemma splits every weight on the embedding dimension (96 = 4 x 24), but the norms.
    assert split(full["params"]["layers/0/attn/q_einsum/w"], 1)
    assert split(full["params"]["layers/0/mlp/down_proj/kernel"], 1)
    assert split(full["params"]["embedder/input_embedding"], 1)
    for path, entry in full["params"].items():
        if path.endswith("norm/scale"):
            assert entry["shard"] == entry["shape"] and entry["devices"] == DEVICES, path
        else:
            assert split(entry, entry["shape"].index(96)), path
        for moment in ("mu", "nu"):
            assert full["optimizer"][f"opt_state/inner_state/1/0/{moment}/{path}"] == entry

    lora = layout["lora"]
    assert lora["params"].keys() == {path for path in lora["params"] if "_lora_" in path}
    # An adapter is split where it meets the embedding dimension, whole where it has none.
    assert split(lora["params"]["layers/0/attn/q_einsum/w_lora_a"], 0)
    assert split(lora["params"]["layers/0/mlp/down_proj/kernel_lora_b"], 1)
    whole = lora["params"]["layers/0/attn/kv_einsum/w_lora_b"]
    assert whole["shard"] == whole["shape"] and whole["devices"] == DEVICES
    for path, entry in lora["params"].items():
        for moment in ("mu", "nu"):
            assert lora["optimizer"][f"opt_state/inner_state/1/0/{moment}/{path}"] == entry

    # Each step returns the state placed as it came: the second step reuses the first's program.
    assert full["train_step_compiles"] == lora["train_step_compiles"] == 1

    uneven = layout["uneven"]["table"]
    assert uneven["shard"] == uneven["shape"] == [262, 96] and uneven["devices"] == DEVICES
