from __future__ import annotations

import pytest
from tunesweep_evidence.documents import JudgeInfo
from tunesweep_evidence.judge import (
    JUDGE,
    MOCK_JUDGE,
    AnswerRule,
    answer_correctness,
    answers_match,
    eval_row,
    extract_answer,
    rejudged_problems,
)
from tunesweep_trainer.data import records


def test_extracts_the_first_marked_answer_of_the_turn() -> None:
    assert extract_answer("A: 30+70=100, 9+9=18, 100+18=118. ANSWER 118") == "118"
    assert extract_answer("ANSWER: 1 then ANSWER 2\nmore text") == "1 then ANSWER 2"
    assert extract_answer("ANSWER 118<end_of_turn>\n<start_of_turn>user\nANSWER 7") == "118"
    assert extract_answer("no answer<end_of_turn>\nANSWER 7") is None
    assert extract_answer("A: 30+70=100, no final answer") is None
    assert extract_answer("ANSWER   ") is None
    assert extract_answer("MYANSWER 3") is None


def test_version_1_read_the_last_marker_of_the_whole_prediction() -> None:
    rule = AnswerRule.LAST_OF_PREDICTION
    assert extract_answer("ANSWER 1 then ANSWER: 2\nmore text", rule) == "2"
    assert extract_answer("no answer<end_of_turn>\nANSWER 7", rule) == "7"


def test_rows_are_re_judged_by_the_rule_of_the_judge_that_wrote_them() -> None:
    prediction = "A: 5+5=10. ANSWER 10<end_of_turn>\nQ: 2+2? A: ANSWER 4"
    row = eval_row("r1", "Q: 5+5?", "10", prediction)
    assert (row.extracted_answer, row.metrics) == ("10", {"answer_correctness": 1.0})
    assert (JUDGE.version, MOCK_JUDGE.version) == ("2", "2")
    assert rejudged_problems(JUDGE, [row], "rows") == []
    old = row.model_copy(update={"extracted_answer": "4", "metrics": {"answer_correctness": 0.0}})
    for name in (JUDGE.name, MOCK_JUDGE.name):
        assert rejudged_problems(JudgeInfo(name=name, version="1"), [old], "rows") == []
        assert rejudged_problems(JudgeInfo(name=name, version="2"), [old], "rows") == [
            "rows[0] (id 'r1').extracted_answer '4' != re-judged '10'",
            "rows[0] (id 'r1').metrics.answer_correctness 0.0 != re-judged 1.0 "
            f"(prediction {prediction!r}, expected '10')",
        ]


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
