from __future__ import annotations

import pytest
from tunesweep_evidence.judge import answer_correctness, answers_match, extract_answer
from tunesweep_trainer.data import records


def test_extracts_the_last_marked_answer() -> None:
    assert extract_answer("A: 30+70=100, 9+9=18, 100+18=118. ANSWER 118") == "118"
    assert extract_answer("ANSWER 1 then ANSWER: 2\nmore text") == "2"
    assert extract_answer("A: 30+70=100, no final answer") is None
    assert extract_answer("ANSWER   ") is None
    assert extract_answer("MYANSWER 3") is None


@pytest.mark.parametrize(
    ("predicted", "expected", "match"),
    [
        ("118", "118", True),
        ("118.0", "118", True),
        ("1,180", "1180", True),
        ("-0.50", "-.5", True),
        ("118.", "118", True),
        ("  Paris ", "paris", True),
        ("New  York", "new york", True),
        ("117", "118", False),
        ("1,18", "118", False),
        ("118 apples", "118", False),
    ],
)
def test_normalised_exact_match(predicted: str, expected: str, match: bool) -> None:
    assert answers_match(predicted, expected) is match


def test_answer_correctness_is_one_or_zero() -> None:
    assert answer_correctness("A: 5+5=10. ANSWER 10", "10") == ("10", 1.0)
    assert answer_correctness("A: 5+5=11. ANSWER 11", "10") == ("11", 0.0)
    assert answer_correctness("10", "10") == (None, 0.0)


@pytest.mark.parametrize("trace", ["A: 30+70=100, 100+18=118.", ""])
def test_the_judge_reads_the_answer_the_training_target_marks(trace: str) -> None:
    record = records.Record(id="r1", prompt="Q: 30+70+18?", trace=trace, answer="118")
    assert answer_correctness(records.target_text(record), record.answer) == ("118", 1.0)
