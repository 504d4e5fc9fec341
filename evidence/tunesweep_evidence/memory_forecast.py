"""How much accelerator memory one trial of the `flax-lm` backend needs. Pure: no JAX; the
architecture of each model preset is a table here (`ARCHITECTURES`), held to Tunix's model configs
by tests/trainer/test_memory_forecast.py.

The trainer runs a trial on a mesh of all its devices (FSDP: flax_lm/mesh.py), each holding 1/n of
every weight, gradient and optimizer moment and its own `per_device_batch_size` examples, so the
forecast is one device's peak, with n the trial's devices:

    peak = weights / n + optimizer state / n + max(train step, evaluation)

- weights: every parameter at `model.dtype` (4 bytes float32, 2 bfloat16). Parameters: the tied
  embedding (vocab x embed) and per layer q, k, v and output projections, the three MLP kernels and
  the norms' scales.
- trainable: all parameters (full fine-tuning) or the LoRA adapters: per adapted projection
  rank x (fan-in + fan-out), on every attention and MLP projection (the default `target_modules`,
  which the forecast assumes for any value of it).
- optimizer state: AdamW's two moments in float32, and for a bfloat16 model a float32 master copy
  of what is trained too (the trainer's mixed precision): 8 or 12 bytes per trainable parameter.
- train step: the gradients and the updated trainable copy (2 x trainable at `model.dtype`, and the
  gradients cast to float32 for a bfloat16 model), divided by n; on n > 1 devices the weights a
  device gathers whole to compute with, the larger of the embedding and one layer; plus the
  activations of the step, per token of
  the batch (per_device_batch_size x max_length): per layer 3 x hidden + 8 x (q + k + v widths)
  values at `model.dtype`, and heads x max_length attention scores (they grow with the sequence)
  once in float32 and 3 times at `model.dtype`; and 8 x vocab float32 values (the logits, their
  softmax and gradients). These counts are fitted to XLA's (below).
- evaluation: the sampler's KV cache, 2 x layers x eval.batch_size x (max_length +
  eval.max_generation_steps) x kv_heads x head_dim at `model.dtype` (an evaluation prompt is at most
  max_length tokens, as in training), plus the prefill logits (eval.batch_size x max_length x vocab,
  float32), not divided: a device may hold a whole evaluation batch.

A split that does not come out even (the trainer leaves such a dimension whole) is not modelled:
every Gemma preset's embedding dimension, on which Tunix splits the weights, divides 1 to 16 devices.

Tolerance: against XLA's own count for the trainer's compiled train step on one CPU device
(`compiled.memory_analysis()`: arguments + outputs - aliased + temporaries), the forecast of the
same parts (weights + optimizer state + train step) lies within `XLA_TOLERANCE`: from 5% under to
30% over. Measured for the tiny preset and a small Gemma-shaped model (gemma-2b's proportions),
float32 and bfloat16, full and LoRA, at batch x length 32 x 64, 8 x 128 and 4 x 256: 0.99 to 1.22;
tests/trainer/test_memory_forecast.py checks four of them. On an accelerator XLA fuses at least as
much as on CPU, so there the forecast errs high rather than low. The division by n is not held to
XLA's count: on CPU, Tunix's Gemma does not pin its activations to the batch split (its `shard`
skips CPU), so XLA partitions the sharded step otherwise than on an accelerator (measured on 4 CPU
devices: arguments 1/4, temporaries about those of the whole batch on one device).

The forecast grows with batch size, max_length and LoRA rank, so for a range (randint) of one of
them its two ends are the extremes; choice and grid values (model.name and model.dtype among them)
are each forecast. It need not fall with bfloat16: for full fine-tuning the float32 master copy
makes a bfloat16 trial's weights and optimizer state larger than a float32 one's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .training_config import TINY, TrainingConfig

FLOAT32_BYTES = 4
DTYPE_BYTES = {"float32": 4, "bfloat16": 2}
XLA_TOLERANCE = (0.95, 1.3)
"""forecast / XLA's count, lowest and highest, for the parts XLA compiles in the train step."""
ACTIVATION_VALUES = (3, 8, 1, 3, 8)
"""Activation values per token of the batch: per layer x hidden and x (q + k + v widths) at the
model's dtype, x heads x max_length in float32 and at the model's dtype; once x vocab in float32."""


@dataclass(frozen=True)
class Architecture:
    """The sizes of a Gemma that set its memory; the names are Tunix's ModelConfig fields."""

    num_layers: int
    num_embed: int
    embed_dim: int
    hidden_dim: int
    num_heads: int
    head_dim: int
    num_kv_heads: int

    @property
    def parameters(self) -> int:
        return self.embedding_parameters + self.num_layers * self.layer_parameters + self.embed_dim

    @property
    def embedding_parameters(self) -> int:
        return self.num_embed * self.embed_dim

    @property
    def layer_parameters(self) -> int:
        attention = 2 * self.num_heads * self.head_dim * self.embed_dim
        attention += 2 * self.num_kv_heads * self.embed_dim * self.head_dim
        return attention + 3 * self.embed_dim * self.hidden_dim + 2 * self.embed_dim

    def lora_parameters(self, rank: int) -> int:
        q_width = self.num_heads * self.head_dim
        kv_width = 2 * self.num_kv_heads * self.head_dim
        fans = (
            (self.embed_dim + q_width)
            + (self.embed_dim + kv_width)
            + (q_width + self.embed_dim)
            + 3 * (self.embed_dim + self.hidden_dim)
        )
        return self.num_layers * rank * fans


ARCHITECTURES: dict[str, Architecture] = {
    TINY: Architecture(3, 264, 96, 192, 4, 24, 1),
    **dict.fromkeys(
        ("gemma-2b", "gemma-2b-it", "gemma-1.1-2b-it"), Architecture(18, 256128, 2048, 16384, 8, 256, 1)
    ),
    **dict.fromkeys(
        ("gemma-7b", "gemma-7b-it", "gemma-1.1-7b-it"), Architecture(28, 256128, 3072, 24576, 16, 256, 16)
    ),
    **dict.fromkeys(("gemma-2-2b", "gemma-2-2b-it"), Architecture(26, 256128, 2304, 9216, 8, 256, 4)),
    **dict.fromkeys(("gemma-2-9b", "gemma-2-9b-it"), Architecture(42, 256128, 3584, 28672, 16, 256, 8)),
    **dict.fromkeys(("gemma-3-270m", "gemma-3-270m-it"), Architecture(18, 262144, 640, 2048, 4, 256, 1)),
    **dict.fromkeys(("gemma-3-1b-it", "gemma-3-1b-pt"), Architecture(26, 262144, 1152, 6912, 4, 256, 1)),
    **dict.fromkeys(("gemma-3-4b-it", "gemma-3-4b-pt"), Architecture(34, 262144, 2560, 10240, 8, 256, 4)),
    **dict.fromkeys(("gemma-3-12b-it", "gemma-3-12b-pt"), Architecture(48, 262144, 3840, 15360, 16, 256, 8)),
    **dict.fromkeys(("gemma-3-27b-it", "gemma-3-27b-pt"), Architecture(62, 262144, 5376, 21504, 32, 128, 16)),
}
"""Every model preset's architecture (tests/trainer/test_memory_forecast.py: as Tunix builds it)."""


@dataclass(frozen=True)
class Forecast:
    """Bytes on each of the trial's devices, by what holds them."""

    weights: int
    optimizer_state: int
    train_step: int
    """Gradients, the updated trainable copy and the activations of one step."""
    evaluation: int
    """The sampler's KV cache and prefill logits."""

    @property
    def peak(self) -> int:
        return self.weights + self.optimizer_state + max(self.train_step, self.evaluation)

    def parts(self) -> str:
        return (
            f"weights {gib(self.weights)}, optimizer state {gib(self.optimizer_state)}, "
            f"train step {gib(self.train_step)}, evaluation {gib(self.evaluation)}"
        )


def forecast(config: TrainingConfig, architecture: Architecture | None = None, devices: int = 1) -> Forecast:
    """The memory of each device of a trial of `config` on `devices` devices (its model preset's
    architecture unless given)."""
    model = config.model
    arch = architecture or ARCHITECTURES[model.name]
    width = DTYPE_BYTES[model.dtype]
    trainable = arch.parameters if model.lora is None else arch.lora_parameters(model.lora.rank)
    tokens = config.training.per_device_batch_size * model.max_length
    master = 0 if width == FLOAT32_BYTES else FLOAT32_BYTES  # a float32 copy of what is trained
    gathered = max(arch.embedding_parameters, arch.layer_parameters) * width if devices > 1 else 0
    return Forecast(
        weights=_split(arch.parameters * width, devices),
        optimizer_state=_split(trainable * (2 * FLOAT32_BYTES + master), devices),
        train_step=_split(trainable * (2 * width + master), devices)
        + gathered
        + tokens * activation_bytes(arch, model.max_length, width),
        evaluation=_evaluation(config, arch, width),
    )


def _split(size: int, devices: int) -> int:
    return -(-size // devices)


def activation_bytes(arch: Architecture, max_length: int, width: int) -> int:
    """Bytes of activations per token of the batch (see `ACTIVATION_VALUES`)."""
    hidden, projections, scores_float32, scores, vocab = ACTIVATION_VALUES
    qkv = (arch.num_heads + 2 * arch.num_kv_heads) * arch.head_dim
    layer = (hidden * arch.hidden_dim + projections * qkv) * width
    layer += arch.num_heads * max_length * (scores_float32 * FLOAT32_BYTES + scores * width)
    return arch.num_layers * layer + vocab * arch.num_embed * FLOAT32_BYTES


def _evaluation(config: TrainingConfig, arch: Architecture, width: int) -> int:
    batch, prompt = config.eval.batch_size, config.model.max_length
    cache_length = prompt + config.eval.max_generation_steps
    kv_cache = 2 * arch.num_layers * batch * cache_length * arch.num_kv_heads * arch.head_dim * width
    return kv_cache + batch * prompt * arch.num_embed * FLOAT32_BYTES


def gib(size: float) -> str:
    return f"{size / 2**30:.1f} GiB"
