from __future__ import annotations

import math
from typing import Any

import pytest
from tunesweep_evidence.documents import EvalRow
from tunesweep_evidence.primary_score import ScoreError, primary_score, require_score


def row(row_id: str = "q1", **fields: Any) -> dict[str, Any]:
    return {"id": row_id, "prompt": "Q", "expected": "2", "prediction": "2", **fields}


def test_mean_of_answer_correctness() -> None:
    rows = [row("a", metrics={"answer_correctness": 1.0}), row("b", metrics={"answer_correctness": 0.0})]
    rows.append(row("c", metrics={"answer_correctness": 0.5}))
    assert primary_score(rows) == pytest.approx(0.5)


def test_judge_score_counts_on_its_declared_scale() -> None:
    rows = [row("a", score=80, scale="0..100"), row("b", score=0.4, scale="0..1")]
    assert primary_score(rows) == pytest.approx(0.6)


def test_answer_correctness_wins_over_the_judge_score() -> None:
    assert primary_score([row(metrics={"answer_correctness": 1.0}, score=0, scale="0..100")]) == 1.0


def test_rows_with_neither_do_not_count() -> None:
    rows = [row("a", metrics={"answer_correctness": 0.25}), row("b", metrics={"bleu": 0.9}), row("c")]
    assert primary_score(rows) == 0.25


def test_no_scorable_rows_is_none() -> None:
    assert primary_score([]) is None
    assert primary_score([row("a"), row("b", metrics={"other": 1.0})]) is None


def test_accepts_models_and_mappings_alike() -> None:
    model = EvalRow.model_validate(row("m", metrics={"answer_correctness": 1.0}))
    assert primary_score([model, row("d", score=50, scale="0..100")]) == 0.75


def test_mean_is_exact_for_many_rows() -> None:
    rows = [row(f"r{i}", metrics={"answer_correctness": 0.1}) for i in range(1000)]
    assert primary_score(rows) == 0.1


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"metrics": {"answer_correctness": math.nan}}, "row 'bad': metrics.answer_correctness is nan"),
        ({"metrics": {"answer_correctness": 1.5}}, "row 'bad': metrics.answer_correctness 1.5 is outside"),
        ({"metrics": {"answer_correctness": -0.1}}, "row 'bad': metrics.answer_correctness -0.1 is outside"),
        (
            {"metrics": {"answer_correctness": "1"}},
            "row 'bad': metrics.answer_correctness is '1', not a number",
        ),
        (
            {"metrics": {"answer_correctness": True}},
            "row 'bad': metrics.answer_correctness is True, not a number",
        ),
        ({"score": math.inf, "scale": "0..100"}, "row 'bad': score is inf"),
        ({"score": 101, "scale": "0..100"}, "row 'bad': score 101 is outside its scale 0..100"),
        ({"score": 2, "scale": "0..1"}, "row 'bad': score 2 is outside its scale 0..1"),
        ({"score": 5, "scale": "0..10"}, "row 'bad': score 5 has scale '0..10'; declare one of 0..1, 0..100"),
        ({"score": 5}, "row 'bad': score 5 has scale None"),
    ],
)
def test_untrustworthy_values_are_errors_naming_row_and_field(fields: dict[str, Any], expected: str) -> None:
    rows = [row("good", metrics={"answer_correctness": 1.0}), row("bad", **fields)]
    with pytest.raises(ScoreError) as raised:
        primary_score(rows)
    assert str(raised.value).startswith(expected)


def test_a_row_without_id_is_named_by_position() -> None:
    with pytest.raises(ScoreError, match="row '#1'"):
        primary_score([{"metrics": {"answer_correctness": 1}}, {"metrics": {"answer_correctness": 2}}])


def test_production_refuses_a_null_score_smoke_accepts_it() -> None:
    with pytest.raises(ScoreError, match="production mode needs a primary score"):
        require_score(None, "production")
    assert require_score(None, "smoke") is None
    assert require_score(0.5, "production") == 0.5


def test_require_score_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="unknown mode 'prod'"):
        require_score(0.5, "prod")
