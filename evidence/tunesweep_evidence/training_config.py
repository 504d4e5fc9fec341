"""The nested training config: the shape of `spec.trainer.baseConfig` and of the promoted `best_config.yaml`.

The trainer parses it, the spec validator checks search-space paths against it, and its JSON Schema
(`schemas/training_config.schema.json`) is generated from these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ._model import SnakeModel

TINY = "tiny"
DEFAULT_LORA_TARGETS = ".*(q_einsum|kv_einsum|qkv_einsum|attn_vec_einsum|gate_proj|up_proj|down_proj)"


class LoraConfig(SnakeModel):
    rank: int = Field(4, ge=1, le=1024)
    """LoRA rank of the adapted projections."""
    alpha: float = Field(8.0, gt=0)
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    target_modules: str = Field(DEFAULT_LORA_TARGETS, min_length=1)
    """Regular expression over module paths (e.g. `layers/0/attn/q_einsum`) that get adapters."""


class ModelConfig(SnakeModel):
    name: str = Field(TINY, pattern=r"^(tiny|gemma-[0-9a-z.\-]+)$")
    """Model preset: `tiny` (a byte-level Gemma that trains on CPU, random init unless `checkpoint`
    is set) or a Gemma architecture by its Hugging Face name, loaded from `checkpoint`:
    `gemma-2b-it`, `gemma-7b-it`, `gemma-1.1-2b-it`, `gemma-2-2b-it`, `gemma-2-9b-it`,
    `gemma-3-1b-it`, `gemma-3-4b-it`, ..."""
    checkpoint: str | None = None
    """Local path or bucket URI of a Hugging Face-layout checkpoint folder: `*.safetensors` weights
    and, for a real Gemma, its SentencePiece `tokenizer.model`. Required for every preset but `tiny`."""
    max_length: int = Field(64, ge=8, le=32768)
    """Tokens per training sequence (prompt + target), right-padded."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Parameter dtype; bfloat16 halves the memory of a real checkpoint."""
    lora: LoraConfig | None = None
    """LoRA adapters; null means full fine-tuning."""

    @model_validator(mode="after")
    def _checkpoint_for_real_models(self) -> ModelConfig:
        if self.name != TINY and not self.checkpoint:
            raise ValueError(f"model {self.name!r} needs `checkpoint` (a folder with its safetensors)")
        return self


class TrainingSection(SnakeModel):
    learning_rate: float = Field(3.0e-3, gt=0, le=1.0)
    """Peak learning rate: linear warmup from 0 over `warmup_steps`, then cosine decay to 0 at `max_steps`."""
    per_device_batch_size: int = Field(32, ge=1, le=65536)
    weight_decay: float = Field(0.0, ge=0, le=1.0)
    """AdamW decoupled weight decay."""
    warmup_steps: int = Field(10, ge=0)
    max_steps: int = Field(600, ge=1)
    seed: int = Field(0, ge=0)
    """Seeds parameter initialisation and the order of training examples."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradients are clipped to this global norm."""
    report_every_steps: int = Field(50, ge=1)
    """How often intermediate metrics are reported (to Ray Tune / ASHA and metrics.jsonl)."""


class DataConfig(SnakeModel):
    train: str = "builtin:arithmetic"
    """`builtin:arithmetic`, or a JSONL file (path or bucket URI) of {prompt, trace, answer} records."""
    eval: str = "builtin:arithmetic"
    train_size: int = Field(7850, ge=1)
    """Examples drawn from a builtin source for training (ignored for files)."""
    eval_size: int = Field(100, ge=1)
    """Held-out examples every trial is scored on (its primary score, which selects the winner)."""
    test_size: int = Field(100, ge=1)
    """Held-out test examples, apart from the eval set: every trial is scored on them too, but no
    decision reads that score; the winner's is reported beside its primary score."""
    rung_size: int = Field(50, ge=1)
    """Held-out examples scored at each early-stopping rung (apart from the eval and test sets)."""
    seed: int = Field(0, ge=0)
    """Seeds the builtin sources, so trials of a sweep train and evaluate on the same examples."""
    prompt_template: str = Field("{prompt}\n", pattern=r"\{prompt\}")
    """How a record's prompt is shown to the model, in training and evaluation; the target
    (`<trace> ANSWER <answer>`) follows it. Instruction-tuned Gemma expects its turn markers:
    `<start_of_turn>user\\n{prompt}<end_of_turn>\\n<start_of_turn>model\\n`."""


class EvalConfig(SnakeModel):
    max_generation_steps: int = Field(64, ge=1, le=4096)
    """Greedy decoding budget per evaluation prompt (it must cover the trace and the answer)."""
    batch_size: int = Field(50, ge=1, le=4096)
    """Prompts decoded together."""


class TrainingConfig(SnakeModel):
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingSection = Field(default_factory=TrainingSection)
    data: DataConfig = Field(default_factory=DataConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


Backend = Literal["flax-lm", "mock"]
