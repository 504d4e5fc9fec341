"""`paced:run`, a `backend: python` trainer for the budget tests: each step takes `pace.step_seconds`
(it stands for training, holding the trial's resources that long) and is reported; it answers the
share `pace.skill` of the prompts right, so its primary score follows that param. With
`pace.fail_at_step` it raises there, as a trainer with a bug does."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesweep_trainer.custom import TrialContext

_SUM = re.compile(r"(\d+)\+(\d+)")


def run(config: dict[str, Any], context: TrialContext) -> dict[str, str]:
    pace = config["pace"]
    for step in range(1, context.max_steps + 1):
        time.sleep(pace["step_seconds"])
        if step == pace.get("fail_at_step"):
            raise RuntimeError(f"the trainer broke at step {step}")
        context.report(step, {"loss": 1.0 / step})
    prompts = context.answer_prompts
    right = round(pace["skill"] * len(prompts))
    return {p.id: f"ANSWER {_answer(p.prompt) + (0 if i < right else 1)}" for i, p in enumerate(prompts)}


def _answer(prompt: str) -> int:
    first, second = _SUM.findall(prompt)[0]
    return int(first) + int(second)
