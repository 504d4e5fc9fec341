"""The accelerator benchmark (bench/gpu_bench.py) runs end to end on the tiny preset here, so the
one short run on a lent GPU or TPU machine does not fail on a bug a CPU would have shown."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import pytest
from flax import nnx
from tunesweep_evidence.training_config import LoraConfig
from tunesweep_trainer.flax_lm import models

from bench import gpu_bench


@pytest.mark.parametrize(
    ("device_kind", "peak"),
    [
        ("NVIDIA H200", 989.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("TPU v5 lite", 197.0),
        ("TPU v5", 459.0),
        ("cpu", None),
    ],
)
def test_the_peak_is_the_devices_own(device_kind: str, peak: float | None) -> None:
    assert gpu_bench.peak_tflops(device_kind) == peak


def test_it_measures_both_loops_for_full_and_lora(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    shape = ["--models", "tiny", "--batch", "2", "--seq", "32", "--steps", "3", "--warmup", "1"]
    gpu_bench.main([*shape, "--peak-tflops", "1", "--json", str(out)])
    rows = json.loads(out.read_text())
    assert [(row["model"], row["method"]) for row in rows] == [("tiny", "full"), ("tiny", "lora")]
    for row in rows:
        assert row["ours_tokens_per_s"] > 0 and row["plain_tokens_per_s"] > 0
        assert row["mfu"] == pytest.approx(row["ours_tokens_per_s"] * row["flops_per_token"] / 1e12)
    # under LoRA the frozen weights get no weight gradients (2 FLOPs per weight less); adapters get 6
    base = _parameters(models.random_tiny(0))
    adapters = (
        _parameters(models.with_lora(models.random_tiny(0), LoraConfig(rank=gpu_bench.LORA_RANK), 0)) - base
    )
    full, lora = rows
    assert full["flops_per_token"] - lora["flops_per_token"] == 2 * base - 6 * adapters


def _parameters(model: nnx.Module) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))
