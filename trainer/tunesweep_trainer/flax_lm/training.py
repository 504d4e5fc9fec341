"""Fine-tuning with Tunix's PeftTrainer: full fine-tune, or only the LoRA adapters when the model has them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flax import nnx
from tunesweep_evidence.training_config import TrainingSection
from tunix.sft import hooks, peft_trainer

from . import optimizer
from .batches import model_inputs

StepCallback = Callable[[int, float], None]
"""Called after every update with (1-based step, loss); raising stops training."""


def fine_tune(
    model: nnx.Module,
    batches: Iterator[peft_trainer.TrainingInput],
    pad_id: int,
    training: TrainingSection,
    on_step: StepCallback,
) -> int:
    """Train `model` in place for `training.max_steps` updates; returns the updates done."""
    trainer = peft_trainer.PeftTrainer(
        model,
        optimizer.build(training),
        peft_trainer.TrainingConfig(eval_every_n_steps=training.max_steps, max_steps=training.max_steps),
    ).with_gen_model_input_fn(model_inputs(pad_id))
    trainer.with_training_hooks(_StepWatch(on_step))
    trainer.train(batches)
    return trainer.train_steps


class _StepWatch(hooks.TrainingHooks):
    """Forwards each finished step's loss. Tunix calls it once the step's loss is on the host
    (one step behind the dispatch, and for the last step from `close()`)."""

    def __init__(self, on_step: StepCallback) -> None:
        self._on_step = on_step

    def on_train_step_end(self, train_ctx: Any, train_step: int, train_loss: float) -> None:
        self._on_step(int(train_step), float(train_loss))

    def on_train_start(self, train_ctx: Any) -> None:
        pass

    def on_train_end(self, train_ctx: Any) -> None:
        pass

    def on_train_step_start(self, train_ctx: Any) -> None:
        pass

    def on_eval_step_start(self, train_ctx: Any) -> None:
        pass

    def on_eval_step_end(self, train_ctx: Any, eval_loss: float) -> None:
        pass
