"""The learning-rate schedule: linear warmup to the peak, then cosine decay to 0 at the last step.

One formula for the traced optimizer state (`xp=jax.numpy`), for host-side reporting (`xp=numpy`)
and, with the default pure-Python operations, for `tunesweep evidence verify`, which re-derives
the rate each metrics.jsonl line reports (the evidence package imports neither numpy nor JAX).
"""

from __future__ import annotations

import math
from typing import Any


class _Scalars:
    """The few array operations the formula uses, on Python floats."""

    pi = math.pi
    float32 = float
    cos = staticmethod(math.cos)
    maximum = staticmethod(max)

    @staticmethod
    def asarray(value: Any, dtype: Any) -> float:
        return float(value)

    @staticmethod
    def clip(value: float, low: float, high: float) -> float:
        return min(max(value, low), high)

    @staticmethod
    def where(condition: bool, then: float, otherwise: float) -> float:
        return then if condition else otherwise


SCALARS = _Scalars()

DESCRIPTION = (
    "Update n of training.max_steps (counted from 1) uses, while n <= training.warmup_steps, "
    "learning_rate * n / warmup_steps (linear warmup); after that, "
    "learning_rate * (1 + cos(pi * (n - 1 - warmup_steps) / (max_steps - warmup_steps))) / 2 "
    "(cosine decay from the peak towards 0)."
)
"""`learning_rate_at` in words, for `tunesweep explain`."""


def learning_rate_at(step: Any, peak: Any, warmup_steps: Any, total_steps: Any, xp: Any = SCALARS) -> Any:
    """The rate of update number `step` (0-based)."""
    step = xp.asarray(step, xp.float32)
    warming = peak * (step + 1.0) / xp.maximum(warmup_steps, 1.0)
    progress = xp.clip((step - warmup_steps) / xp.maximum(total_steps - warmup_steps, 1.0), 0.0, 1.0)
    decaying = peak * 0.5 * (1.0 + xp.cos(xp.pi * progress))
    return xp.where(step < warmup_steps, warming, decaying)
