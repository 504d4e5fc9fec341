"""The examples a custom trainer trains on and answers, and the judging of its answers.

The trainer sees the training records whole, but of the held-out slices (eval, test, rung) only
each example's id and prompt (with `data.prompt_template` applied): the expected answers stay with
tunesweep, whose judge scores the answers (the text after the first `ANSWER` marker before
any `<end_of_turn>`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from tunesweep_evidence import judge
from tunesweep_evidence.documents import EvalRow
from tunesweep_evidence.primary_score import primary_score
from tunesweep_evidence.training_config import DataConfig

from ..backend import BackendResult
from ..data import sources
from ..data.records import Record, prompt_text
from ..errors import TrialFailed

Answers = Mapping[str, str]
"""An answer (the prediction text) per example id."""


@dataclass(frozen=True)
class Prompt:
    id: str
    prompt: str
    """The record's prompt shown through `data.prompt_template`, as the model is to see it."""


@dataclass(frozen=True)
class TrialExamples:
    splits: sources.Splits
    template: str

    @classmethod
    def load(cls, data: DataConfig) -> TrialExamples:
        return cls(sources.load_splits(data), data.prompt_template)

    @property
    def train(self) -> list[Record]:
        """The training records, each prompt shown through the template as the model sees it."""
        return [replace(record, prompt=prompt_text(record, self.template)) for record in self.splits.train]

    @property
    def answer_prompts(self) -> list[Prompt]:
        """What the trainer answers at the end: the eval set, then the test slice."""
        return self.prompts([*self.splits.eval, *self.splits.test])

    @property
    def rung_prompts(self) -> list[Prompt]:
        return self.prompts(self.splits.rung)

    def prompts(self, records: Sequence[Record]) -> list[Prompt]:
        return [Prompt(record.id, prompt_text(record, self.template)) for record in records]

    def rung_score(self, answers: Answers) -> float:
        return primary_score(_judged(self.splits.rung, answers, "rung")) or 0.0

    def result(self, answers: Answers, steps_done: int) -> BackendResult:
        return BackendResult(
            rows=_judged(self.splits.eval, answers, "eval"),
            test_rows=_judged(self.splits.test, answers, "test"),
            judge=judge.JUDGE,
            steps_done=steps_done,
        )


def _judged(records: Sequence[Record], answers: Answers, what: str) -> list[EvalRow]:
    missing = [record.id for record in records if record.id not in answers]
    if missing:
        raise TrialFailed(
            f"the trainer gave no answer to {len(missing)} of the {len(records)} {what} examples "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): answer every id it was given"
        )
    return [judge.eval_row(record.id, record.prompt, record.answer, answers[record.id]) for record in records]
