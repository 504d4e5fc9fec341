"""The answer-correctness judge: final-answer extraction and normalised exact match.

A prediction's final answer is what follows the first `ANSWER` marker of its turn (to the end of that
line); the turn ends at `<end_of_turn>`, where an instruction-tuned Gemma ends it, and generation
stops there too. Version 1 read the last marker of the whole prediction, so an under-trained model
was judged on what it made up after its turn; its rows are still re-judged by that rule. Two
answers agree when they are equal after normalisation (case, surrounding whitespace and trailing
full stops, inner runs of spaces) or, when both read as numbers, when they are the same number:
"118" == "118.0", "1,180" == "1180".

It lives in the evidence package (pure Python) so that `tunesweep evidence verify` can re-judge
every row a trial wrote with the very judge that wrote it. A judge is named and versioned
(`JudgeInfo`): changing how it decides is a new version, and verify refuses versions it lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from enum import Enum

from .documents import EvalRow, JudgeInfo

ANSWER_MARKER = "ANSWER"
"""What precedes the final answer in a training target and in a prediction."""
END_OF_TURN = "<end_of_turn>"
"""Where an instruction-tuned Gemma ends its turn (one token of its vocabulary)."""
JUDGE = JudgeInfo(name="answer-exact-match", version="2")
MOCK_JUDGE = JudgeInfo(name="mock-surface", version="2")
"""The mock trainer's rows: invented predictions, judged by the same exact match (`eval_row`)."""


class AnswerRule(Enum):
    """Which `ANSWER` marker of a prediction holds its final answer."""

    FIRST_OF_TURN = "the first marker before END_OF_TURN"
    LAST_OF_PREDICTION = "the last marker of the whole prediction (version 1)"


RULES: dict[tuple[str, str], AnswerRule] = {
    (JUDGE.name, "1"): AnswerRule.LAST_OF_PREDICTION,
    (MOCK_JUDGE.name, "1"): AnswerRule.LAST_OF_PREDICTION,
    (JUDGE.name, JUDGE.version): AnswerRule.FIRST_OF_TURN,
    (MOCK_JUDGE.name, MOCK_JUDGE.version): AnswerRule.FIRST_OF_TURN,
}
"""Every judge (name, version) whose rows verify can re-judge, with the rule it wrote them by."""
_MARKER = re.compile(rf"\b{ANSWER_MARKER}\b")
_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[+-]?\.\d+")


def extract_answer(prediction: str, rule: AnswerRule = AnswerRule.FIRST_OF_TURN) -> str | None:
    """The text after the `rule`'s `ANSWER` marker, or None when there is no non-empty one."""
    first = rule is AnswerRule.FIRST_OF_TURN
    text = prediction.split(END_OF_TURN, 1)[0] if first else prediction
    markers = list(_MARKER.finditer(text))
    if not markers:
        return None
    marker = markers[0] if first else markers[-1]
    line = text[marker.end() :].split("\n", 1)[0]
    answer = line.strip().removeprefix(":").removeprefix("=").strip()
    return answer or None


def normalise(answer: str) -> str:
    return " ".join(answer.strip().rstrip(".").split()).casefold()


def answers_match(predicted: str, expected: str) -> bool:
    left, right = normalise(predicted), normalise(expected)
    if left == right:
        return True
    left_number, right_number = _as_number(left), _as_number(right)
    return left_number is not None and left_number == right_number


def answer_correctness(
    prediction: str, expected: str, rule: AnswerRule = AnswerRule.FIRST_OF_TURN
) -> tuple[str | None, float]:
    """(extracted answer, 1.0 if it matches the expected answer else 0.0)."""
    answer = extract_answer(prediction, rule)
    return answer, 1.0 if answer is not None and answers_match(answer, expected) else 0.0


def _as_number(text: str) -> Decimal | None:
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def eval_row(row_id: str, prompt: str, expected: str, prediction: str) -> EvalRow:
    answer, correctness = answer_correctness(prediction, expected)
    return EvalRow(
        id=row_id,
        prompt=prompt,
        expected=expected,
        prediction=prediction,
        extracted_answer=answer,
        metrics={"answer_correctness": correctness},
    )


def rejudged_problems(judge: JudgeInfo, rows: Iterable[EvalRow], field: str) -> list[str]:
    """`field[index]...: what is wrong` for each row of `field` (rows, test_rows) whose recorded
    verdict differs from judging it again.

    An unknown judge (name or version) is one problem: its rows cannot be re-judged.
    """
    rule = RULES.get((judge.name, judge.version))
    if rule is None:
        known = ", ".join(f"{name} version {version}" for name, version in sorted(RULES))
        return [
            f"judge: {judge.name} version {judge.version} is unknown to this tunesweep (it knows {known}); "
            "its rows cannot be re-judged: upgrade tunesweep or re-evaluate with a known judge"
        ]
    problems = []
    for index, row in enumerate(rows):
        answer, correctness = answer_correctness(row.prediction, row.expected, rule)
        label = f"{field}[{index}] (id {row.id!r})"
        if row.extracted_answer != answer:
            problems.append(f"{label}.extracted_answer {row.extracted_answer!r} != re-judged {answer!r}")
        recorded = row.metrics.get("answer_correctness")
        if recorded != correctness:
            problems.append(
                f"{label}.metrics.answer_correctness {recorded!r} != re-judged {correctness!r} "
                f"(prediction {row.prediction!r}, expected {row.expected!r})"
            )
    return problems
