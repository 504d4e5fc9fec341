"""The memory forecast (evidence package, no JAX) against what the trainer really builds: its
architecture table is Tunix's model configs, its parameter counts are the models', and its bytes lie
within the stated tolerance of XLA's own count for the trainer's compiled train step on CPU."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from tunesweep_evidence.memory_forecast import ARCHITECTURES, XLA_TOLERANCE, Architecture, forecast
from tunesweep_evidence.training_config import MODEL_PRESETS, TINY, LoraConfig, TrainingConfig
from tunesweep_trainer.flax_lm import models
from tunesweep_trainer.flax_lm.batches import model_inputs
from tunesweep_trainer.flax_lm.training import optimizer_for
from tunix.models.gemma import model as gemma
from tunix.models.gemma3 import model as gemma3
from tunix.sft import peft_trainer

GEMMA_SHAPED = Architecture(
    num_layers=2, num_embed=4096, embed_dim=256, hidden_dim=2048, num_heads=8, head_dim=32, num_kv_heads=1
)
"""gemma-2b's proportions (multi-query attention, hidden 8 x embed, a large vocabulary), small."""


def tunix_config(name: str) -> Any:
    return models.tiny_config() if name == TINY else models.architecture_config(name, jnp.float32)


def count(state: Any) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(state))


def test_the_table_holds_every_preset_as_tunix_configures_it() -> None:
    assert set(ARCHITECTURES) == set(MODEL_PRESETS)
    for name, architecture in ARCHITECTURES.items():
        config = tunix_config(name)
        sizes = {field.name: getattr(config, field.name) for field in dataclasses.fields(Architecture)}
        assert Architecture(**sizes) == architecture, name


@pytest.mark.parametrize("name", ["gemma-2b", "gemma-7b", "gemma-2-9b", "gemma-3-1b-it", "gemma-3-27b-it"])
def test_parameter_counts_are_the_built_models_within_a_thousandth(name: str) -> None:
    config = tunix_config(name)
    module = gemma3.Gemma3 if isinstance(config, gemma3.ModelConfig) else gemma.Gemma
    built = count(nnx.state(nnx.eval_shape(lambda: module(config, rngs=nnx.Rngs(0))), nnx.Param))
    assert abs(ARCHITECTURES[name].parameters - built) <= built / 1000, (name, built)


def test_tiny_counts_its_parameters_and_lora_adapters_exactly() -> None:
    model = models.random_tiny(0)
    assert ARCHITECTURES[TINY].parameters == count(nnx.state(model, nnx.Param))
    adapted = models.with_lora(model, LoraConfig(rank=8), 0)
    assert ARCHITECTURES[TINY].lora_parameters(8) == count(nnx.state(adapted, nnx.LoRAParam))


def _model(architecture: Architecture, config: TrainingConfig) -> nnx.Module:
    if architecture == ARCHITECTURES[TINY]:
        model = models.random_tiny(0)
    else:
        layers = (gemma.AttentionType.GLOBAL,) * architecture.num_layers
        shape = dataclasses.replace(
            models.tiny_config(), **dataclasses.asdict(architecture), attention_types=layers
        )
        model = gemma.Gemma(shape, rngs=nnx.Rngs(params=0))
    model = models._cast(model, models.DTYPES[config.model.dtype])
    return model if config.model.lora is None else models.with_lora(model, config.model.lora, 0)


@pytest.mark.parametrize(
    ("architecture", "dtype", "lora", "batch", "length"),
    [
        (ARCHITECTURES[TINY], "float32", False, 32, 64),
        (ARCHITECTURES[TINY], "bfloat16", True, 8, 128),
        (GEMMA_SHAPED, "bfloat16", False, 8, 128),
        (GEMMA_SHAPED, "float32", True, 32, 64),
    ],
    ids=["tiny-full-f32", "tiny-lora-bf16", "gemma-shaped-full-bf16", "gemma-shaped-lora-f32"],
)
def test_the_forecast_is_within_tolerance_of_xla_for_the_train_step(
    architecture: Architecture, dtype: str, lora: bool, batch: int, length: int
) -> None:
    config = TrainingConfig.model_validate(
        {
            "model": {"max_length": length, "dtype": dtype, "lora": {"rank": 8} if lora else None},
            "training": {"per_device_batch_size": batch},
        }
    )
    model = _model(architecture, config)
    trainer = peft_trainer.PeftTrainer(
        model,
        optimizer_for(model, config.training),
        peft_trainer.TrainingConfig(eval_every_n_steps=1, max_steps=1),
    ).with_gen_model_input_fn(model_inputs(pad_id=0))
    step, _ = trainer.jit_train_and_eval_step()  # the trainer's own jitted step, bound to model and optimizer
    tokens = np.ones((batch, length), np.int32)
    example = peft_trainer.TrainingInput(input_tokens=tokens, input_mask=tokens.astype(bool))
    stats = step.func.lower(*step.args, example).compile().memory_analysis()
    xla = (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
        + stats.temp_size_in_bytes
    )
    predicted = forecast(config, architecture)
    ratio = (predicted.weights + predicted.optimizer_state + predicted.train_step) / xla
    low, high = XLA_TOLERANCE
    assert low <= ratio <= high, (ratio, predicted, stats)
