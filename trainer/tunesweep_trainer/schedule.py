"""The learning-rate schedule, on arrays: `tunesweep_evidence.schedule`'s one formula with numpy by
default (`xp=jax.numpy` for the traced optimizer state)."""

from __future__ import annotations

from typing import Any

import numpy as np
from tunesweep_evidence import schedule


def learning_rate_at(step: Any, peak: Any, warmup_steps: Any, total_steps: Any, xp: Any = np) -> Any:
    """The rate of update number `step` (0-based)."""
    return schedule.learning_rate_at(step, peak, warmup_steps, total_steps, xp)
