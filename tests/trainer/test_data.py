from __future__ import annotations

import json
from pathlib import Path

import pytest
from tunesweep_evidence.training_config import DataConfig
from tunesweep_trainer.data import arithmetic, jsonl
from tunesweep_trainer.data.records import DataError, Record, target_text
from tunesweep_trainer.data.sources import load_splits


def test_arithmetic_record_has_the_worked_trace() -> None:
    record = arithmetic.record(39, 79)
    assert record.prompt == "Q: 39+79=?"
    assert target_text(record) == "A: 30+70=100, 9+9=18, 100+18=118. ANSWER 118"
    assert record.answer == "118"


def test_arithmetic_splits_are_disjoint_and_seeded() -> None:
    train, evaluation = arithmetic.splits(seed=4, train_size=500, eval_size=50)
    assert len(train) == 500 and len(evaluation) == 50
    assert not {r.prompt for r in train} & {r.prompt for r in evaluation}
    assert arithmetic.splits(seed=4, train_size=500, eval_size=50) == (train, evaluation)
    assert arithmetic.splits(seed=5, train_size=500, eval_size=50)[1] != evaluation


def test_arithmetic_refuses_more_problems_than_exist() -> None:
    with pytest.raises(DataError, match="8100 distinct problems"):
        arithmetic.splits(seed=0, train_size=8100, eval_size=1)


def test_jsonl_file_records(tmp_path: Path) -> None:
    lines = [
        {"prompt": "2+2?", "trace": "two and two", "answer": "4"},
        {"id": "q7", "prompt": "half of 3?", "trace": "", "answer": 1.5},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    train, evaluation = load_splits(DataConfig(train=str(path), eval=f"file://{path}", eval_size=1))
    assert train == [
        Record(id=f"{path}:1", prompt="2+2?", trace="two and two", answer="4"),
        Record(id="q7", prompt="half of 3?", trace="", answer="1.5"),
    ]
    assert evaluation == train[:1]
    assert target_text(train[1]) == "ANSWER 1.5"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"prompt": "p", "trace": "t"}', "data.jsonl:3: missing field 'answer'"),
        ('{"prompt": "p", "trace": "t", "answer": ', "data.jsonl:3: invalid JSON"),
        ('["p", "t", "a"]', "data.jsonl:3: expected a JSON object, got list"),
        (
            '{"prompt": 5, "trace": "t", "answer": "a"}',
            "data.jsonl:3: field 'prompt' must be a string, got int",
        ),
        (
            '{"prompt": "p", "trace": null, "answer": "a"}',
            "data.jsonl:3: field 'trace' must be a string, got null",
        ),
        ('{"prompt": "p", "trace": "t", "answer": true}', "data.jsonl:3: field 'answer' must be a non-empty"),
        ('{"prompt": " ", "trace": "t", "answer": "a"}', "data.jsonl:3: field 'prompt' is empty"),
    ],
)
def test_bad_record_is_named_by_file_and_line(line: str, problem: str) -> None:
    good = '{"prompt": "p", "trace": "t", "answer": "a"}'
    with pytest.raises(DataError) as caught:
        jsonl.parse(f"{good}\n{good}\n{line}\n", "data.jsonl")
    assert str(caught.value).startswith(problem)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    with pytest.raises(DataError, match=r"empty\.jsonl: no records \(the file is empty\)"):
        load_splits(DataConfig(train=str(empty)))
    with pytest.raises(DataError, match=r"nothing\.jsonl: data file not found"):
        load_splits(DataConfig(train=str(tmp_path / "nothing.jsonl")))
    with pytest.raises(DataError, match=r"unknown builtin data source 'builtin:gsm8k'"):
        load_splits(DataConfig(eval="builtin:gsm8k"))
