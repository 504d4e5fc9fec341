"""A custom trainer's reports, checked before they are recorded and sent to Ray Tune.

A trainer may report at any step; tunesweep records the report steps (`is_report_step`: every
`training.report_every_steps`, each rung step, `training.max_steps`) and drops the others. What it
cannot record is refused (TrialFailed, with the fix): steps that go back, a report step skipped,
a rung step without answers to the rung examples (or such answers off a rung step), a missing or
non-finite loss, a metric that is not a number, and ending before `training.max_steps`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from typing import Any

from tunesweep_evidence.training_config import CustomTraining
from tunesweep_evidence.trial_checks import report_steps

from ..backend import RUNG_SCORE, ProgressFn
from ..errors import TrialFailed
from .examples import TrialExamples


class ReportChecks:
    def __init__(
        self,
        training: CustomTraining,
        rung_steps: Collection[int],
        examples: TrialExamples,
        on_progress: ProgressFn,
    ) -> None:
        self._training = training
        self._rung_steps = frozenset(rung_steps)
        self._due = report_steps(training, rung_steps)
        self._examples = examples
        self._on_progress = on_progress
        self._last = 0

    def report(self, step: Any, metrics: Mapping[str, Any], rung_answers: Mapping[str, Any] | None) -> None:
        if isinstance(step, bool) or not isinstance(step, int) or step <= self._last:
            raise TrialFailed(
                f"report step {step!r} after step {self._last}: steps are integers that increase"
            )
        if not self._due:
            raise TrialFailed(f"report at step {step}, past training.max_steps {self._training.max_steps}")
        if step > self._due[0]:
            raise TrialFailed(
                f"report at step {step} but none at step {self._due[0]} (report every "
                f"training.report_every_steps {self._training.report_every_steps}, at rung steps "
                f"{sorted(self._rung_steps)} and at "
                f"training.max_steps {self._training.max_steps})"
            )
        self._last = step
        if step < self._due[0]:
            return  # not a report step: nothing is recorded
        self._due.pop(0)
        self._on_progress(step, self._checked(step, metrics, rung_answers))

    def finish(self) -> int:
        """The steps done, once the trainer ended having reported its last step."""
        if self._due:
            raise TrialFailed(
                f"the trainer ended after step {self._last} without reporting step {self._due[0]} "
                f"(it trains to training.max_steps {self._training.max_steps})"
            )
        return self._last

    def _checked(
        self, step: int, metrics: Mapping[str, Any], rung_answers: Mapping[str, Any] | None
    ) -> dict[str, float]:
        numbers: dict[str, float] = {}
        for name, value in metrics.items():
            if name == RUNG_SCORE:
                raise TrialFailed(
                    f"step {step}: report rung_answers, not a rung_score: tunesweep judges them"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TrialFailed(f"step {step}: metric {name} is {value!r}, not a number")
            numbers[name] = float(value)
        loss = numbers.get("loss")
        if loss is None or not math.isfinite(loss):
            raise TrialFailed(f"step {step}: every report needs a finite loss, got {metrics.get('loss')!r}")
        if (rung_answers is not None) != (step in self._rung_steps):
            where = (
                f"a rung step ({sorted(self._rung_steps)})" if step in self._rung_steps else "no rung step"
            )
            what = "answers to the rung examples" if rung_answers is None else "no rung answers"
            raise TrialFailed(f"step {step} is {where}: it takes {what}")
        if rung_answers is not None:
            started = time.monotonic()
            numbers[RUNG_SCORE] = self._examples.rung_score(
                answers(rung_answers, f"step {step}: rung_answers")
            )
            numbers.setdefault("rung_eval_s", time.monotonic() - started)
        return numbers


def answers(given: Mapping[str, Any], what: str) -> dict[str, str]:
    """`given` as answers (id -> text), or TrialFailed naming the first that is not text."""
    bad = next(((key, value) for key, value in given.items() if not isinstance(value, str)), None)
    if bad is not None:
        raise TrialFailed(f"{what}: the answer to {bad[0]!r} is {bad[1]!r}, not text")
    return dict(given)
