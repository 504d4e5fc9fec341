"""The nested training config: the shape of `spec.trainer.baseConfig` and of the promoted `best_config.yaml`.

The trainer parses it, the spec validator checks search-space paths against it, and its JSON Schema
(`schemas/training_config.schema.json`) is generated from these models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ._model import SnakeModel

TINY = "tiny"
GEMMA_PRESETS = (
    "gemma-2b",
    "gemma-2b-it",
    "gemma-7b",
    "gemma-7b-it",
    "gemma-1.1-2b-it",
    "gemma-1.1-7b-it",
    "gemma-2-2b",
    "gemma-2-2b-it",
    "gemma-2-9b",
    "gemma-2-9b-it",
    "gemma-3-270m",
    "gemma-3-270m-it",
    "gemma-3-1b-it",
    "gemma-3-1b-pt",
    "gemma-3-4b-it",
    "gemma-3-4b-pt",
    "gemma-3-12b-it",
    "gemma-3-12b-pt",
    "gemma-3-27b-it",
    "gemma-3-27b-pt",
)
"""The Gemma architectures the trainer builds (Tunix's model configs), by their Hugging Face names.
The evidence package imports no Tunix, so they are listed here; a trainer test holds the list to
exactly what Tunix builds."""
MODEL_PRESETS = (TINY, *GEMMA_PRESETS)


def _known_preset(name: str) -> str:
    if name not in MODEL_PRESETS:
        raise PydanticCustomError(
            "model_preset",
            "{name} is not a model preset; known presets: {known}",
            {"name": repr(name), "known": ", ".join(MODEL_PRESETS)},
        )
    return name


ModelPreset = Annotated[
    str, AfterValidator(_known_preset), Field(json_schema_extra={"enum": list(MODEL_PRESETS)})
]
MaxSteps = Annotated[int, Field(ge=1)]
ReportEverySteps = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0)]
DEFAULT_LORA_TARGETS = ".*(q_einsum|kv_einsum|qkv_einsum|attn_vec_einsum|gate_proj|up_proj|down_proj)"


class LoraConfig(SnakeModel):
    """LoRA adapters: only they are trained; the base weights stay frozen."""

    rank: int = Field(4, ge=1, le=1024)
    """LoRA rank of the adapted projections."""
    alpha: float = Field(8.0, gt=0)
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    target_modules: str = Field(DEFAULT_LORA_TARGETS, min_length=1)
    """Regular expression over module paths (e.g. `layers/0/attn/q_einsum`) that get adapters."""


class ModelConfig(SnakeModel):
    """The model to fine-tune."""

    name: ModelPreset = TINY
    """Model preset: `tiny` (a byte-level Gemma that trains on CPU, random init unless `checkpoint`
    is set) or a Gemma architecture by its Hugging Face name (e.g. `gemma-2-2b-it`), loaded from
    `checkpoint`."""
    checkpoint: str | None = None
    """Local path or bucket URI of a Hugging Face-layout checkpoint folder: `*.safetensors` weights
    and, for a real Gemma, its SentencePiece `tokenizer.model`. Required for every preset but `tiny`."""
    max_length: int = Field(64, ge=8, le=32768)
    """Tokens per training sequence (prompt + target), right-padded."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """The model's dtype: its weights and its compute. With bfloat16 (half the memory of a real
    checkpoint) what is trained (the LoRA adapters, else every weight) also keeps float32 master
    weights and float32 AdamW moments in the optimizer, so updates far below a weight's bfloat16
    spacing (such as 1e-5 steps) still add up."""
    lora: LoraConfig | None = None
    """LoRA adapters; null means full fine-tuning."""

    @model_validator(mode="after")
    def _checkpoint_for_real_models(self) -> ModelConfig:
        if self.name != TINY and not self.checkpoint:
            raise ValueError(f"model {self.name!r} needs `checkpoint` (a folder with its safetensors)")
        return self


class TrainingSection(SnakeModel):
    """The optimizer (AdamW) and its steps."""

    learning_rate: float = Field(3.0e-3, gt=0, le=1.0)
    """Peak of the learning-rate schedule (warmup, then cosine decay; see `tunesweep explain`)."""
    per_device_batch_size: int = Field(32, ge=1, le=65536)
    """Training examples per device in each optimizer step: the step's batch is this times the
    trial's devices, split across them."""
    weight_decay: float = Field(0.0, ge=0, le=1.0)
    """AdamW decoupled weight decay."""
    warmup_steps: int = Field(10, ge=0)
    """Updates over which the learning rate climbs linearly to its peak."""
    max_steps: MaxSteps = 600
    """Optimizer updates the trial trains for; the schedule decays to 0 at the last."""
    seed: Seed = 0
    """Seeds parameter initialisation and the order of training examples."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradients are clipped to this global norm."""
    report_every_steps: ReportEverySteps = 50
    """How often intermediate metrics are reported (to Ray Tune / ASHA and metrics.jsonl)."""

    def global_batch_size(self, devices: int) -> int:
        """The examples of one optimizer step on `devices` devices (data parallel)."""
        return self.per_device_batch_size * devices


class DataConfig(SnakeModel):
    """The training examples, and the held-out ones every trial is scored on."""

    train: str = "builtin:arithmetic"
    """`builtin:arithmetic`, or a JSONL file (path or bucket URI) of {prompt, trace, answer} records."""
    eval: str = "builtin:arithmetic"
    """Where the held-out examples come from: `builtin:arithmetic`, or a JSONL file whose first
    `eval_size` records are the eval set, the next `test_size` the test slice, the next `rung_size`
    the rung slice."""
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
    """How the held-out examples are decoded and judged."""

    max_generation_steps: int = Field(64, ge=1, le=4096)
    """Greedy decoding budget per evaluation prompt (it must cover the trace and the answer)."""
    batch_size: int = Field(50, ge=1, le=4096)
    """Prompts decoded together."""


class TrainingConfig(SnakeModel):
    """The training config of the built-in backends (`flax-lm`, `mock`)."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingSection = Field(default_factory=TrainingSection)
    data: DataConfig = Field(default_factory=DataConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


class CustomTraining(SnakeModel):
    """What tunesweep reads of a custom trainer's `training` section; its other keys are the trainer's."""

    model_config = ConfigDict(extra="allow")
    max_steps: MaxSteps = 600
    """The trial's last step: its rungs are planned below it and its last report is at it."""
    report_every_steps: ReportEverySteps = 50
    """Which steps are recorded and reported to Ray Tune (and every rung step, and max_steps)."""
    seed: Seed = 0
    """Recorded in run_manifest.json; the trainer decides what it seeds."""


class CustomConfig(SnakeModel):
    """A custom trainer's config (`backend: python | command`): free-form, but for the keys tunesweep
    reads: `data` (the eval protocol and the examples it deals) and the steps of `training`."""

    model_config = ConfigDict(extra="allow")
    training: CustomTraining = Field(default_factory=CustomTraining)
    data: DataConfig = Field(default_factory=DataConfig)


Backend = Literal["flax-lm", "mock", "python", "command"]
CUSTOM_BACKENDS: tuple[Backend, ...] = ("python", "command")
"""Bring your own trainer: a Python entrypoint, or a command of any language (`trainer.entrypoint`,
`trainer.command`)."""


def config_model(backend: str) -> type[TrainingConfig] | type[CustomConfig]:
    """The model a `backend`'s config is validated and resolved with."""
    return CustomConfig if backend in CUSTOM_BACKENDS else TrainingConfig
