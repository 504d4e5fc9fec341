"""What a backend gives a trial: evaluation rows to score, and progress while it trains.

At each rung step (`rung_steps`, from the sweep's plan) a backend scores the rung slice of the
eval data on the model as it is after that many updates, and adds it to that step's progress as
`rung_score` (with `rung_eval_s`, what the evaluation took, where it is measured); every rung step
is also a report step.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from tunesweep_evidence.documents import EvalRow, JudgeInfo
from tunesweep_evidence.training_config import TrainingSection

ProgressFn = Callable[[int, Mapping[str, float]], None]
"""Called with (step, metrics such as loss and learning_rate) at each report step and at the last step."""


RUNG_SCORE = "rung_score"


@dataclass(frozen=True)
class BackendResult:
    rows: list[EvalRow]
    """The eval set's judged rows: the primary score."""
    test_rows: list[EvalRow]
    """The test slice's judged rows: reported, never used for a decision."""
    judge: JudgeInfo
    steps_done: int


def is_report_step(step: int, training: TrainingSection, rung_steps: Collection[int] = ()) -> bool:
    return step % training.report_every_steps == 0 or step == training.max_steps or step in rung_steps
