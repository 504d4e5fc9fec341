"""AdamW with warmup + cosine decay, where every non-shape hyperparameter is optimizer state.

`optax.inject_hyperparams` keeps weight decay and the clipping norm as values in the state; the
learning-rate schedule is a stateful schedule whose peak, warmup and length are state too. The
compiled train step therefore has the same HLO for any learning rate, weight decay, warmup or step
count, and a trial that differs from an earlier one only in those reuses its compiled step from the
persistent cache.

`fp32_master` is the mixed precision of a bfloat16 model: the model computes in bfloat16, the
optimizer keeps float32 master weights and moments for what is trained.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from tunesweep_evidence.training_config import TrainingSection

from ..schedule import learning_rate_at

ADAM_B1, ADAM_B2 = 0.9, 0.98


class ScheduleState(NamedTuple):
    count: Any
    peak: Any
    warmup_steps: Any
    total_steps: Any


class WarmupCosine:
    """`learning_rate_at` as an optax stateful schedule: its parameters live in the state."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
        self._initial = (peak, warmup_steps, total_steps)

    def init(self) -> ScheduleState:
        peak, warmup, total = self._initial
        return ScheduleState(
            count=jnp.zeros([], jnp.int32),
            peak=jnp.asarray(peak, jnp.float32),
            warmup_steps=jnp.asarray(warmup, jnp.float32),
            total_steps=jnp.asarray(total, jnp.float32),
        )

    def update(self, state: ScheduleState, **extra_args: Any) -> ScheduleState:
        return state._replace(count=optax.safe_increment(state.count))

    def __call__(self, state: ScheduleState, **extra_args: Any) -> Any:
        return learning_rate_at(state.count, state.peak, state.warmup_steps, state.total_steps, xp=jnp)


def build(training: TrainingSection) -> optax.GradientTransformation:
    return optax.inject_hyperparams(clipped_adamw)(
        learning_rate=WarmupCosine(training.learning_rate, training.warmup_steps, training.max_steps),
        weight_decay=training.weight_decay,
        max_grad_norm=training.max_grad_norm,
    )


def clipped_adamw(
    learning_rate: Any, weight_decay: Any, max_grad_norm: Any, b1: Any = ADAM_B1, b2: Any = ADAM_B2
) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(max_grad_norm),
        optax.adamw(learning_rate, b1=b1, b2=b2, weight_decay=weight_decay),
    )


class MasterState(NamedTuple):
    inner: Any
    """First: Tunix logs the learning rate of the first state part that holds hyperparams."""
    master: Any
    """The float32 master copy of the trained parameters."""


def fp32_master(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """`inner` run on float32 master copies of the parameters (its moments float32 too); each
    parameter gets its master rounded to its own dtype. Updated in bfloat16 itself, a weight ignores
    any update under half its bfloat16 spacing (about 2^-9 of it): a 1e-5 step never moves a 0.01.
    """

    def init(params: Any) -> MasterState:
        master = jax.tree.map(lambda param: param.astype(jnp.float32), params)
        return MasterState(inner=inner.init(master), master=master)

    def update(grads: Any, state: MasterState, params: Any = None) -> tuple[Any, MasterState]:
        if params is None:
            raise ValueError("fp32_master needs the parameters to update")
        grads = jax.tree.map(lambda grad: grad.astype(jnp.float32), grads)
        steps, inner_state = inner.update(grads, state.inner, state.master)
        master = optax.apply_updates(state.master, steps)
        # float32 updates: optax.apply_updates adds them in float32 (p + (m - p) == m, exactly, since
        # p is m's rounding) and rounds to the parameter's dtype once.
        to_master = jax.tree.map(lambda new, param: new - param.astype(jnp.float32), master, params)
        return to_master, MasterState(inner=inner_state, master=master)

    return optax.GradientTransformation(init, update)
