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


def test_builtin_slices_are_disjoint_and_seeded() -> None:
    data = DataConfig(train_size=500, eval_size=50, test_size=20, rung_size=10, seed=4)
    splits = load_splits(data)
    sizes = [len(part) for part in (splits.train, splits.eval, splits.test, splits.rung)]
    assert sizes == [500, 50, 20, 10]
    ids = [r.id for part in (splits.train, splits.eval, splits.test, splits.rung) for r in part]
    assert len(set(ids)) == len(ids)
    assert load_splits(data) == splits
    assert load_splits(data.model_copy(update={"seed": 5})).eval != splits.eval
    # The eval set does not move when the other slices change size.
    assert load_splits(data.model_copy(update={"test_size": 7, "train_size": 9})).eval == splits.eval


def test_arithmetic_refuses_more_problems_than_exist() -> None:
    with pytest.raises(
        DataError, match=r"8100 distinct problems: data.eval_size \(100\) \+ .*data.train_size \(8000\)"
    ):
        load_splits(DataConfig(train_size=8000))


def _write_jsonl(path: Path, count: int, first: int = 0) -> None:
    path.write_text(
        "".join(
            json.dumps({"id": f"q{n}", "prompt": f"{n}+{n}?", "trace": "", "answer": str(2 * n)}) + "\n"
            for n in range(first, first + count)
        )
    )


def test_jsonl_file_records(tmp_path: Path) -> None:
    lines = [
        {"prompt": "2+2?", "trace": "two and two", "answer": "4"},
        {"id": "q7", "prompt": "half of 3?", "trace": "", "answer": 1.5},
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    assert jsonl.parse(path.read_text(), str(path)) == [
        Record(id=f"{path}:1", prompt="2+2?", trace="two and two", answer="4"),
        Record(id="q7", prompt="half of 3?", trace="", answer="1.5"),
    ]
    assert target_text(jsonl.parse(path.read_text(), str(path))[1]) == "ANSWER 1.5"


def test_one_file_for_train_and_eval_is_split_by_position(tmp_path: Path) -> None:
    path = tmp_path / "all.jsonl"
    _write_jsonl(path, 10)
    # The same file, spelled as a path and as a file:// URI.
    splits = load_splits(
        DataConfig(train=str(path), eval=f"file://{path}", eval_size=3, test_size=2, rung_size=1)
    )
    assert [[r.id for r in part] for part in (splits.eval, splits.test, splits.rung)] == [
        ["q0", "q1", "q2"],
        ["q3", "q4"],
        ["q5"],
    ]
    assert [r.id for r in splits.train] == ["q6", "q7", "q8", "q9"]


def test_held_out_slices_need_enough_records(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    _write_jsonl(path, 5)
    data = DataConfig(eval=str(path), eval_size=3, test_size=2, rung_size=1)
    with pytest.raises(
        DataError, match=r"eval.jsonl has 5 records; .* = 6: add records or lower those sizes"
    ):
        load_splits(data)
    with pytest.raises(DataError, match="no records left to train on"):
        load_splits(data.model_copy(update={"train": str(path), "test_size": 1}))


def test_train_and_eval_files_sharing_an_example_are_refused(tmp_path: Path) -> None:
    train, held_out = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    _write_jsonl(train, 5, first=4)
    _write_jsonl(held_out, 6)
    data = DataConfig(train=str(train), eval=str(held_out), eval_size=3, test_size=2, rung_size=1)
    with pytest.raises(DataError, match=r"share 2 example id\(s\) \(q4, q5\)"):
        load_splits(data)
    _write_jsonl(train, 5, first=6)
    assert [r.id for r in load_splits(data).train] == ["q6", "q7", "q8", "q9", "q10"]


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
