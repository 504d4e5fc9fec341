"""AdamW with warmup + cosine decay, where every non-shape hyperparameter is optimizer state.

`optax.inject_hyperparams` keeps weight decay and the clipping norm as values in the state; the
learning-rate schedule is a stateful schedule whose peak, warmup and length are state too. The
compiled train step therefore has the same HLO for any learning rate, weight decay, warmup or step
count, and a trial that differs from an earlier one only in those reuses its compiled step from the
persistent cache.
"""

from __future__ import annotations

from typing import Any, NamedTuple

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
