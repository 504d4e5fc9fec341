"""LoRA trials run one after another in one process share one loaded base model (`base_cache`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flax import nnx
from tunesweep_evidence.training_config import LoraConfig, ModelConfig, TrainingSection
from tunesweep_trainer.data import arithmetic
from tunesweep_trainer.flax_lm import base_cache, batches, models, training
from tunesweep_trainer.trial import run_trial

from bench import hf_checkpoint
from tests.trainer import evidence_files

BASE_PARAMS = nnx.All(nnx.Param, nnx.Not(nnx.LoRAParam))


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    base_cache.drop()  # other tests of this process may have left a base
    yield
    base_cache.drop()


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[str, dict[Any, np.ndarray]]:
    """A Gemma-shaped Hugging Face-layout checkpoint, and its weights by module path."""
    original = models.random_tiny(seed=5)
    hf_checkpoint.save(original, str(tmp_path / "ckpt"))
    return str(tmp_path / "ckpt"), _values(original, nnx.Param)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The checkpoint folders read, one entry per read of the safetensors."""
    done: list[str] = []
    read = models.gemma_safetensors.create_model_from_safe_tensors

    def counted(folder: str, *args: Any, **kwargs: Any) -> Any:
        done.append(folder)
        return read(folder, *args, **kwargs)

    monkeypatch.setattr(models.gemma_safetensors, "create_model_from_safe_tensors", counted)
    return done


def _values(model: nnx.Module, kind: Any) -> dict[Any, np.ndarray]:
    return {path: np.array(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(model, kind))}


def _buffers(model: nnx.Module) -> dict[Any, int]:
    state = nnx.state(model, BASE_PARAMS)
    return {path: v.get_value().unsafe_buffer_pointer() for path, v in nnx.to_flat_state(state)}


def _trial(config: ModelConfig, learning_rate: float, seed: int) -> tuple[models.Built, list[float]]:
    """A short LoRA trial: the model it trained, and its loss at each step."""
    built = models.load(config, seed)
    _, records = arithmetic.deal(0, [("eval_size", 1), ("train_size", 64)])
    encoded = batches.encode(records, built.tokenizer, "{prompt}\n", 64)
    losses: list[float] = []
    training.fine_tune(
        built.model,
        batches.training_batches(encoded, 16, seed),
        built.tokenizer.pad_id(),
        TrainingSection(max_steps=4, warmup_steps=0, learning_rate=learning_rate, seed=seed),
        lambda step, loss: losses.append(loss),
    )
    return built, losses


def test_a_second_lora_trial_reuses_the_base_with_fresh_adapters_and_optimizer(
    checkpoint: tuple[str, dict[Any, np.ndarray]], reads: list[str]
) -> None:
    folder, weights = checkpoint
    config = ModelConfig(checkpoint=folder, lora=LoraConfig(rank=2, alpha=4.0))
    first, _ = _trial(config, learning_rate=1e-2, seed=1)
    second, second_losses = _trial(config, learning_rate=3e-3, seed=2)
    assert len(reads) == 1
    assert (first.base.cached, second.base.cached) == (False, True)

    base_cache.drop()  # the second trial again, as a fresh process runs it: the base read anew
    alone, alone_losses = _trial(config, learning_rate=3e-3, seed=2)
    assert len(reads) == 2 and not alone.base.cached
    assert second_losses == alone_losses
    adapters = _values(second.model, nnx.LoRAParam)
    assert adapters.keys() == _values(alone.model, nnx.LoRAParam).keys()
    assert all(np.array_equal(value, _values(alone.model, nnx.LoRAParam)[p]) for p, value in adapters.items())

    # The shared base is still the checkpoint's, bit for bit, in every trial's module; and held
    # once: after training, both trials' modules hold the kept arrays, not copies of them.
    for built in (first, second, alone):
        base = _values(built.model, BASE_PARAMS)
        assert base.keys() == weights.keys()
        assert all(np.array_equal(value, weights[path]) for path, value in base.items())
    assert _buffers(first.model) == _buffers(second.model) != _buffers(alone.model)


def test_another_base_replaces_the_kept_one(
    checkpoint: tuple[str, dict[Any, np.ndarray]], reads: list[str], tmp_path: Path
) -> None:
    folder, _ = checkpoint
    lora = LoraConfig(rank=2)
    config = ModelConfig(checkpoint=folder, lora=lora)

    def cached(model_config: ModelConfig, seed: int = 0) -> bool:
        return models.load(model_config, seed).base.cached

    assert [cached(config), cached(config)] == [False, True]
    assert [cached(config.model_copy(update={"dtype": "bfloat16"})), cached(config)] == [False, False]
    assert len(reads) == 3
    assert cached(config, seed=9)  # a checkpoint's weights do not depend on the seed

    other = tmp_path / "other"
    hf_checkpoint.save(models.random_tiny(seed=6), str(other))
    assert [cached(config.model_copy(update={"checkpoint": str(other)})), cached(config)] == [False, False]
    hf_checkpoint.save(models.random_tiny(seed=7), folder)  # the same folder with other weights
    assert cached(config) is False
    assert len(reads) == 6

    # A full fine-tune trains a base of its own and drops the kept one (its device memory).
    full = models.load(config.model_copy(update={"lora": None}), seed=0)
    assert not full.base.cached and not cached(config)
    assert len(reads) == 8


def test_a_random_base_is_kept_per_seed() -> None:
    config = ModelConfig(lora=LoraConfig(rank=2))
    seen = [models.load(config, seed).base.cached for seed in (0, 0, 1, 1, 0)]
    assert seen == [False, True, False, True, False]


def test_each_trial_s_manifest_says_where_its_base_came_from(
    checkpoint: tuple[str, dict[Any, np.ndarray]], tmp_path: Path
) -> None:
    folder, _ = checkpoint
    config = {
        "model": {"checkpoint": folder, "lora": {"rank": 2, "alpha": 4.0}},
        "training": {"max_steps": 2, "report_every_steps": 2, "warmup_steps": 0},
        "data": {"train_size": 64, "eval_size": 2, "test_size": 2, "rung_size": 2},
    }
    uses = []
    for trial in ("first", "second"):
        run_trial("flax-lm", config, str(tmp_path / trial))
        manifest, _, _ = evidence_files.read(tmp_path / trial)
        assert manifest.base_model is not None
        uses.append(manifest.base_model)
    assert [use.cached for use in uses] == [False, True]
