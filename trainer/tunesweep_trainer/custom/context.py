"""What a `backend: python` trainer is given besides its config: `TrialContext`.

def run(config: dict, context: TrialContext) -> dict[str, str]:
    for step in range(1, context.max_steps + 1):
        loss = train_one_step(...)
        if context.is_rung_step(step):
            context.report(step, {"loss": loss}, rung_answers=answer(context.rung_prompts))
        else:
            context.report(step, {"loss": loss})
    return answer(context.answer_prompts)  # {example id: prediction text}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.records import Record
from . import checkpoints
from .examples import Prompt, TrialExamples
from .reports import ReportChecks


@dataclass(frozen=True)
class TrialContext:
    max_steps: int
    """training.max_steps: the trial's last step, which it must report."""
    rung_steps: tuple[int, ...]
    """The steps (below max_steps) at which the trial answers `rung_prompts` for early stopping."""
    checkpoint_dir: Path
    """This trial's own local folder for checkpoints; `saved(step)` marks what it holds."""
    _examples: TrialExamples
    _reports: ReportChecks

    @property
    def train_examples(self) -> list[Record]:
        """The training records (id, prompt, trace, answer): never one of the held-out examples."""
        return self._examples.train

    @property
    def answer_prompts(self) -> list[Prompt]:
        """The eval set and the test slice: the trial returns an answer to each, by id."""
        return self._examples.answer_prompts

    @property
    def rung_prompts(self) -> list[Prompt]:
        return self._examples.rung_prompts

    @property
    def last_saved_step(self) -> int | None:
        """The step `saved` last marked in `checkpoint_dir` (a trial run again), or None."""
        return checkpoints.last_saved_step(self.checkpoint_dir)

    def is_rung_step(self, step: int) -> bool:
        return step in self.rung_steps

    def report(
        self, step: int, metrics: Mapping[str, Any], rung_answers: Mapping[str, str] | None = None
    ) -> None:
        """Report `metrics` (a finite `loss` at least) after `step` updates; at a rung step, with the
        answers to `rung_prompts`, which tunesweep judges into the step's `rung_score`. Raises
        `TrialStopped` when the sweep's scheduler cuts the trial: let it propagate."""
        self._reports.report(step, metrics, rung_answers)

    def saved(self, step: int) -> None:
        """Mark the checkpoint of `step` in `checkpoint_dir` complete."""
        checkpoints.mark_saved(self.checkpoint_dir, step)
