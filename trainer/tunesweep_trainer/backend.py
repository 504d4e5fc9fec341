"""What a backend gives a trial: evaluation rows to score, and progress while it trains."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tunesweep_evidence.documents import EvalRow, JudgeInfo
from tunesweep_evidence.training_config import TrainingSection

ProgressFn = Callable[[int, Mapping[str, float]], None]
"""Called with (step, metrics such as loss and learning_rate) at each report step and at the last step."""


@dataclass(frozen=True)
class BackendResult:
    rows: list[EvalRow]
    judge: JudgeInfo
    steps_done: int


def is_report_step(step: int, training: TrainingSection) -> bool:
    return step % training.report_every_steps == 0 or step == training.max_steps
