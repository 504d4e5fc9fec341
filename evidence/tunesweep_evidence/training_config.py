"""The nested training config: the shape of `spec.trainer.baseConfig` and of the promoted `best_config.yaml`.

The trainer parses it, the spec validator checks search-space paths against it, and its JSON Schema
(`schemas/training_config.schema.json`) is generated from these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._model import SnakeModel


class LoraConfig(SnakeModel):
    rank: int = Field(4, ge=1, le=1024)
    """LoRA rank of the adapted projections."""
    alpha: float = Field(8.0, gt=0)
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""


class ModelConfig(SnakeModel):
    name: str = "tiny"
    """Model preset: `tiny` (random-init byte-level Gemma, trains on CPU) or a real architecture
    such as `gemma-2b` / `gemma2-2b` / `gemma3-1b` loaded from `checkpoint`."""
    checkpoint: str | None = None
    """Local path or bucket URI of the checkpoint (weights + tokenizer) for a real model preset."""
    max_length: int = Field(64, ge=8, le=32768)
    """Tokens per training sequence (prompt + target), right-padded."""
    lora: LoraConfig | None = None
    """LoRA adapters; null means full fine-tuning."""


class TrainingSection(SnakeModel):
    learning_rate: float = Field(3.0e-3, gt=0, le=1.0)
    per_device_batch_size: int = Field(32, ge=1, le=65536)
    weight_decay: float = Field(0.0, ge=0, le=1.0)
    warmup_steps: int = Field(10, ge=0)
    max_steps: int = Field(1200, ge=1)
    seed: int = Field(0, ge=0)
    report_every_steps: int = Field(50, ge=1)
    """How often intermediate metrics are reported (to Ray Tune / ASHA and metrics.jsonl)."""


class DataConfig(SnakeModel):
    train: str = "builtin:arithmetic"
    """`builtin:arithmetic`, or a JSONL file (path or bucket URI) of {prompt, trace, answer} records."""
    eval: str = "builtin:arithmetic"
    train_size: int = Field(8000, ge=1)
    """Examples drawn from a builtin source for training (ignored for files)."""
    eval_size: int = Field(100, ge=1)
    """Held-out examples evaluated (a builtin source draws them disjoint from training)."""


class EvalConfig(SnakeModel):
    max_generation_steps: int = Field(40, ge=1, le=4096)
    """Greedy decoding budget per evaluation prompt."""


class TrainingConfig(SnakeModel):
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingSection = Field(default_factory=TrainingSection)
    data: DataConfig = Field(default_factory=DataConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


Backend = Literal["flax-lm", "mock"]
