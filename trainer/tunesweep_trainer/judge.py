"""The answer-correctness judge: final-answer extraction and normalised exact match.

A prediction's final answer is what follows its last `ANSWER` marker (to the end of that line). Two
answers agree when they are equal after normalisation (case, surrounding whitespace and trailing
full stops, inner runs of spaces) or, when both read as numbers, when they are the same number:
"118" == "118.0", "1,180" == "1180".
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from tunesweep_evidence.documents import EvalRow, JudgeInfo

from .data.records import ANSWER_MARKER

JUDGE = JudgeInfo(name="answer-exact-match", version="1")
_MARKER = re.compile(rf"\b{ANSWER_MARKER}\b")
_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[+-]?\.\d+")


def extract_answer(prediction: str) -> str | None:
    """The text after the last `ANSWER` marker, or None when there is no non-empty one."""
    markers = list(_MARKER.finditer(prediction))
    if not markers:
        return None
    line = prediction[markers[-1].end() :].split("\n", 1)[0]
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


def answer_correctness(prediction: str, expected: str) -> tuple[str | None, float]:
    """(extracted answer, 1.0 if it matches the expected answer else 0.0)."""
    answer = extract_answer(prediction)
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
