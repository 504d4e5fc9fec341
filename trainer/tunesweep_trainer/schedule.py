"""The learning-rate schedule: linear warmup to the peak, then cosine decay to 0 at the last step.

One formula for the traced optimizer state (`xp=jax.numpy`) and for host-side reporting (`xp=numpy`).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def learning_rate_at(step: Any, peak: Any, warmup_steps: Any, total_steps: Any, xp: Any = np) -> Any:
    """The rate of update number `step` (0-based)."""
    step = xp.asarray(step, xp.float32)
    warming = peak * (step + 1.0) / xp.maximum(warmup_steps, 1.0)
    progress = xp.clip((step - warmup_steps) / xp.maximum(total_steps - warmup_steps, 1.0), 0.0, 1.0)
    decaying = peak * 0.5 * (1.0 + xp.cos(xp.pi * progress))
    return xp.where(step < warmup_steps, warming, decaying)
