"""The model presets the evidence package lists (it imports no Tunix) are exactly the Gemmas the
trainer builds with Tunix."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from tunesweep_evidence.training_config import GEMMA_PRESETS, MODEL_PRESETS
from tunesweep_trainer.flax_lm import models
from tunix.models import naming
from tunix.models.gemma import model as gemma
from tunix.models.gemma3 import model as gemma3


def test_the_presets_are_the_gemma_configs_tunix_has() -> None:
    tunix_configs = {
        name
        for module in (gemma, gemma3)
        for name, member in vars(module.ModelConfig).items()
        if isinstance(member, classmethod) and name.startswith("gemma")
    }
    assert {naming.ModelNaming(model_name=name).model_config_id for name in GEMMA_PRESETS} == tunix_configs


def test_every_preset_builds_its_architecture() -> None:
    for name in GEMMA_PRESETS:
        assert models.architecture_config(name, jnp.float32).num_layers > 0, name


def test_an_unknown_gemma_names_the_presets() -> None:
    with pytest.raises(ValueError, match=f"known presets: {', '.join(MODEL_PRESETS)}$"):
        models.architecture_config("gemma-5-xl", jnp.float32)
