"""Fine-tuning with Tunix's PeftTrainer: full fine-tune, or only the LoRA adapters when the model has them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax
import orbax.checkpoint as ocp
from flax import nnx
from jax.sharding import Mesh
from tunesweep_evidence.training_config import TrainingSection
from tunix.sft import hooks, peft_trainer, utils

from . import optimizer
from .batches import model_inputs

StepCallback = Callable[[int, float], None]
"""Called after every update with (1-based step, loss); raising stops training."""


@dataclass(frozen=True)
class Rungs:
    """Steps at which `measure(step)` runs on the model as it is after exactly that many updates,
    before the loss of that step reaches the StepCallback."""

    steps: frozenset[int] = frozenset()
    measure: Callable[[int], None] = lambda step: None


@dataclass(frozen=True)
class Checkpoints:
    """Tunix's own checkpoints of the trained state (the LoRA adapters, else every parameter, and
    the optimizer state), in `folder/<step>/`, saved after the updates of each of `steps`. Tunix
    resumes from the newest one there when the trainer is made: it loads that state and skips as
    many batches as the updates it holds, so the seeded data order goes on where it was."""

    folder: Path
    steps: frozenset[int]


def fine_tune(
    model: nnx.Module,
    batches: Iterator[peft_trainer.TrainingInput],
    pad_id: int,
    training: TrainingSection,
    on_step: StepCallback,
    rungs: Rungs = Rungs(),
    mesh: Mesh | None = None,
    checkpoints: Checkpoints | None = None,
) -> int:
    """Train `model` in place up to `training.max_steps` updates; returns the updates done. With a
    `mesh`: `model` sharded over it (`models.build`), called under it (`mesh.active`). With
    `checkpoints`: from the newest checkpoint in its folder, if any."""
    trainer = trainer_for(model, pad_id, training, mesh, checkpoints)
    trainer.with_training_hooks(_StepWatch(on_step, rungs, _frozen(model)))
    trainer.train(batches)
    return trainer.train_steps


def trainer_for(
    model: nnx.Module,
    pad_id: int,
    training: TrainingSection,
    mesh: Mesh | None = None,
    checkpoints: Checkpoints | None = None,
) -> peft_trainer.PeftTrainer:
    """Tunix's trainer of `model`; on a mesh it splits each batch over `fsdp` and places the
    optimizer state as the trained parameters are placed."""
    trainer = peft_trainer.PeftTrainer if mesh is None else partial(_PlacedTrainer, mesh)
    saving = {}
    if checkpoints is not None:
        saving = {
            "checkpoint_root_directory": str(checkpoints.folder),
            "checkpointing_options": ocp.CheckpointManagerOptions(
                save_decision_policy=ocp.checkpoint_managers.SpecificStepsPolicy(
                    steps=sorted(checkpoints.steps)
                ),
                # the caller uploads each one before the next is saved
                max_to_keep=1,
                # written before the step's report, which uploads it
                enable_async_checkpointing=False,
            ),
        }
    return trainer(
        model,
        optimizer_for(model, training),
        peft_trainer.TrainingConfig(
            eval_every_n_steps=training.max_steps, max_steps=training.max_steps, **saving
        ),
    ).with_gen_model_input_fn(model_inputs(pad_id))


class _PlacedTrainer(peft_trainer.PeftTrainer):
    """A step that returns the model and optimizer state placed as they came in. Left to itself,
    XLA places its outputs as it likes (a norm's scale split where it came whole), and the next
    step, given them so placed, compiles again."""

    def __init__(self, mesh: Mesh, *args: Any, **kwargs: Any) -> None:
        self._mesh = mesh
        super().__init__(*args, **kwargs)

    def _train_step(self, model: nnx.Module, optimizer: nnx.Optimizer, inputs: Any) -> Any:
        result = super()._train_step(model, optimizer, inputs)
        for node in (model, optimizer):
            state = nnx.state(node)
            nnx.update(
                node, jax.lax.with_sharding_constraint(state, nnx.get_named_sharding(state, self._mesh))
            )
        return result


def _frozen(model: nnx.Module) -> list[tuple[nnx.Variable[Any], Any]]:
    """A LoRA model's frozen weights, each with the array it holds before training."""
    if not utils.is_lora_enabled(model):
        return []
    frozen = nnx.state(model, nnx.All(nnx.Param, nnx.Not(nnx.LoRAParam)))
    return [(variable, variable.get_value()) for _, variable in nnx.to_flat_state(frozen)]


def optimizer_for(model: nnx.Module, training: TrainingSection) -> optax.GradientTransformation:
    """The training's optimizer, on float32 master weights when what is trained (the adapters, else
    every parameter, as PeftTrainer picks them) is not float32."""
    trained = nnx.LoRAParam if utils.is_lora_enabled(model) else nnx.Param
    dtypes = {leaf.dtype for leaf in jax.tree.leaves(nnx.state(model, trained))}
    tx = optimizer.build(training)
    return tx if dtypes == {jnp.dtype(jnp.float32)} else optimizer.fp32_master(tx)


class _StepWatch(hooks.TrainingHooks):
    """Forwards each finished step's loss, and measures the model at rung steps.

    Tunix calls `on_train_step_end` once the step's loss is on the host: one step behind the
    dispatch (the model already holds the next update), and for the last step from `close()`. So a
    rung is measured where the model holds exactly that many updates: when the next step is about
    to be dispatched (`on_train_step_start`), or at `on_train_end` for the last step, each before
    that step's loss is forwarded.

    A LoRA step returns the frozen weights too, as copies (nnx.jit gives back the whole model
    state). Pointing the model back at the arrays it started with, before each step and at the end,
    frees each copy after one step: the frozen weights stay on the devices once, shared with the
    base a process keeps for its next trial (`base_cache`), rather than twice.
    """

    def __init__(
        self, on_step: StepCallback, rungs: Rungs, frozen: list[tuple[nnx.Variable[Any], Any]]
    ) -> None:
        self._on_step = on_step
        self._rungs = rungs
        self._frozen = frozen

    def on_train_step_end(self, train_ctx: Any, train_step: int, train_loss: float) -> None:
        self._on_step(int(train_step), float(train_loss))

    def on_train_step_start(self, train_ctx: Any) -> None:
        self._drop_frozen_copies()
        self._measure(train_ctx)

    def on_train_end(self, train_ctx: Any) -> None:
        self._drop_frozen_copies()
        self._measure(train_ctx)

    def _drop_frozen_copies(self) -> None:
        for variable, value in self._frozen:
            variable.set_value(value)

    def _measure(self, train_ctx: Any) -> None:
        done = int(train_ctx.train_steps)
        if done in self._rungs.steps:
            self._rungs.measure(done)

    def on_train_start(self, train_ctx: Any) -> None:
        pass

    def on_eval_step_start(self, train_ctx: Any) -> None:
        pass

    def on_eval_step_end(self, train_ctx: Any, eval_loss: float) -> None:
        pass
