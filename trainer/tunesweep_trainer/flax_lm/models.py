"""Model presets: build the Gemma a config names, with its tokenizer, and LoRA adapters when asked.

- `tiny`: a 3-layer byte-level Gemma (261k parameters) that learns the builtin task on a CPU in about
  a minute; random init, or the weights of `checkpoint` when set.
- a Gemma by its Hugging Face name (`gemma-2b-it`, `gemma-2-2b-it`, `gemma-3-1b-it`, ...): the
  architecture comes from Tunix's model configs, the weights from the checkpoint's safetensors, the
  tokenizer from its `tokenizer.model`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import qwix
from flax import nnx
from jax.sharding import Mesh
from tunesweep_evidence.documents import BaseModelUse
from tunesweep_evidence.training_config import MODEL_PRESETS, TINY, LoraConfig, ModelConfig
from tunix.models import automodel, naming
from tunix.models.gemma import model as gemma_lib
from tunix.models.gemma import params_safetensors as gemma_safetensors

from . import base_cache
from .checkpoint import local_folder
from .mesh import FSDP, shard_model
from .tokenizers import ByteTokenizer, Tokenizer, load_sentencepiece

GEMMA_FAMILIES = ("gemma", "gemma1p1", "gemma2", "gemma3")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def tiny_config() -> gemma_lib.ModelConfig:
    layers = 3
    return gemma_lib.ModelConfig(
        num_layers=layers,
        num_embed=ByteTokenizer.VOCAB_SIZE,
        embed_dim=96,
        hidden_dim=192,
        num_heads=4,
        head_dim=24,
        num_kv_heads=1,
        final_logit_softcap=None,
        use_post_attn_norm=False,
        use_post_ffw_norm=False,
        attention_types=(gemma_lib.AttentionType.GLOBAL,) * layers,
    )


@dataclasses.dataclass(frozen=True)
class Built:
    model: nnx.Module
    tokenizer: Tokenizer
    base: BaseModelUse
    """Whether the base came from this process's cache (`base_cache`), and how long it took."""


def build(config: ModelConfig, seed: int, mesh: Mesh | None = None) -> tuple[nnx.Module, Tokenizer]:
    """The model to fine-tune (with LoRA adapters if configured) and its tokenizer; on `mesh`,
    every array sharded over it (`mesh.shard_model`)."""
    built = load(config, seed, mesh)
    return built.model, built.tokenizer


def load(config: ModelConfig, seed: int, mesh: Mesh | None = None) -> Built:
    """`build`, saying where the base came from. A LoRA model's frozen base is the one this process
    keeps (`base_cache`) when an earlier trial loaded the same; a full fine-tune trains every weight,
    so it loads a base of its own (keeping it would hold a second copy of every weight on the
    devices while the trial trains the first)."""
    folder = None if config.checkpoint is None else local_folder(config.checkpoint)

    def placed_base() -> tuple[nnx.Module, Tokenizer]:
        model, tokenizer = _base(config, folder, seed, mesh)
        if mesh is not None:
            shard_model(model, mesh)
        return model, tokenizer

    if config.lora is None:
        return Built(*base_cache.load_own(placed_base))
    key = base_cache.base_key(config.name, config.checkpoint, folder, config.dtype, seed, mesh)
    base, tokenizer, use = base_cache.base(key, placed_base)
    model = with_lora(base, config.lora, seed)
    if mesh is not None:
        shard_model(model, mesh)  # the adapters: the base's arrays are placed already, and stay as they are
    return Built(model, tokenizer, use)


def with_lora(model: nnx.Module, lora: LoraConfig, seed: int) -> nnx.Module:
    """The model with LoRA adapters on the modules matching `lora.target_modules`; the trainer then
    updates only the adapters."""
    provider = qwix.LoraProvider(module_path=lora.target_modules, rank=lora.rank, alpha=lora.alpha)
    adapted = qwix.apply_lora_to_model(
        model, provider, rngs=nnx.Rngs(params=seed + 1), **_example_input(model)
    )
    if not any(isinstance(value, nnx.LoRAParam) for _, value in nnx.iter_graph(adapted)):
        raise ValueError(f"model.lora.target_modules {lora.target_modules!r} matches no module of the model")
    return adapted


def _base(
    config: ModelConfig, folder: str | None, seed: int, mesh: Mesh | None
) -> tuple[nnx.Module, Tokenizer]:
    dtype = DTYPES[config.dtype]
    if config.name == TINY:
        if folder is None:
            return _cast(random_tiny(seed), dtype), ByteTokenizer()
        return _tiny_from_safetensors(folder, dtype), ByteTokenizer()
    if folder is None:  # the config model rejects this too; say it here for direct callers
        raise ValueError(f"model {config.name!r} needs a checkpoint")
    architecture = architecture_config(config.name, dtype)
    # Tunix loads each weight straight into its shards when its Gemma specs (over `fsdp`: the
    # embedding dimension) split evenly; else it loads them whole and `shard_model` fits them.
    fits = mesh is not None and architecture.embed_dim % mesh.shape[FSDP] == 0
    model = automodel.create_model_from_safe_tensors(
        config.name, folder, architecture, mesh=mesh if fits else None, dtype=dtype
    )
    return model, load_sentencepiece(folder)


def architecture_config(name: str, dtype: Any) -> Any:
    """Tunix's ModelConfig for a Gemma name, or a ValueError that says which names work."""
    try:
        family = naming.ModelNaming(model_name=name).model_family
        if family not in GEMMA_FAMILIES:
            raise ValueError(f"family {family!r} is not a Gemma")
        architecture = automodel.call_model_config(name)
    except (ValueError, AttributeError, ImportError) as error:
        raise ValueError(
            f"model.name {name!r} is not a known Gemma ({error}); known presets: {', '.join(MODEL_PRESETS)}"
        ) from None
    if hasattr(architecture, "param_dtype"):  # Gemma 3 builds its parameters in a configured dtype
        architecture = dataclasses.replace(architecture, param_dtype=dtype)
    return architecture


def random_tiny(seed: int) -> gemma_lib.Gemma:
    """A randomly initialised tiny Gemma. Tunix starts MLP kernels at zero (a checkpoint overwrites
    them); from zero, gate, up and down projections never get a gradient, so they are drawn here."""
    model = gemma_lib.Gemma(tiny_config(), rngs=nnx.Rngs(params=seed))
    draw = jax.nn.initializers.lecun_normal()
    keys = iter(jax.random.split(jax.random.key(seed + 1), 3 * len(model.layers)))
    for layer in model.layers:
        for projection in (layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj):
            kernel = projection.kernel
            kernel.set_value(draw(next(keys), kernel.get_value().shape, kernel.get_value().dtype))
    return model


def _tiny_from_safetensors(folder: str, dtype: Any) -> nnx.Module:
    model: nnx.Module = gemma_safetensors.create_model_from_safe_tensors(folder, tiny_config(), dtype=dtype)
    return model


def _cast(model: nnx.Module, dtype: Any) -> nnx.Module:
    if dtype != jnp.float32:
        params = nnx.state(model, nnx.Param)
        nnx.update(model, jax.tree.map(lambda x: x.astype(dtype), params))
    return model


def _example_input(model: nnx.Module) -> dict[str, Any]:
    example: dict[str, Any] = model.get_model_input()  # type: ignore[attr-defined]
    return example
