"""Resolve `data.train` / `data.eval` to records: a builtin generator or a JSONL file (path or bucket URI).

The eval source holds every held-out slice, in this order: the eval set (`eval_size`, the primary
score), the test slice (`test_size`, reported for the winner, used by no decision) and the rung
slice (`rung_size`, scored at early-stopping rungs). Training never sees any of them: a builtin
source deals them apart; one file named by both `train` and `eval` trains on the records after
them; two files must not share an example id.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesweep_evidence import bucket
from tunesweep_evidence.training_config import DataConfig
from tunesweep_evidence.wording import counted

from . import arithmetic, jsonl
from .records import DataError, Record

BUILTIN_PREFIX = "builtin:"
BUILTINS = (arithmetic.SOURCE,)


@dataclass(frozen=True)
class Splits:
    train: list[Record]
    eval: list[Record]
    test: list[Record]
    rung: list[Record]


def load_splits(data: DataConfig) -> Splits:
    held_out_sizes = [
        ("eval_size", data.eval_size),
        ("test_size", data.test_size),
        ("rung_size", data.rung_size),
    ]
    held_out = _held_out(data, held_out_sizes)
    train = _train(data, held_out_sizes)
    held_out_ids = {record.id for records in held_out for record in records}
    shared = [record.id for record in train if record.id in held_out_ids]
    if shared:
        raise DataError(
            f"data.train and data.eval share {len(shared)} example id(s) ({', '.join(shared[:3])}): a "
            "trial would be scored on what it trained on; remove them from one file, or name one file "
            "as both data.train and data.eval to split it"
        )
    return Splits(train, *held_out)


def _held_out(data: DataConfig, sizes: list[tuple[str, int]]) -> list[list[Record]]:
    if data.eval.startswith(BUILTIN_PREFIX):
        _require_builtin(data.eval)
        return arithmetic.deal(data.seed, sizes)
    records = _load(data.eval)
    needed = sum(size for _, size in sizes)
    if len(records) < needed:
        named = " + ".join(f"data.{name} ({size})" for name, size in sizes)
        raise DataError(
            f"{_file_name(data.eval)} has {counted(len(records), 'record')}; the held-out slices need "
            f"{named} = {needed}: add records or lower those sizes"
        )
    slices, start = [], 0
    for _, size in sizes:
        slices.append(records[start : start + size])
        start += size
    return slices


def _train(data: DataConfig, held_out_sizes: list[tuple[str, int]]) -> list[Record]:
    if data.train.startswith(BUILTIN_PREFIX):
        _require_builtin(data.train)
        return arithmetic.deal(data.seed, [*held_out_sizes, ("train_size", data.train_size)])[-1]
    records = _load(data.train)
    if _file_name(data.train) == _file_name(data.eval):
        records = records[sum(size for _, size in held_out_sizes) :]
        if not records:
            raise DataError(f"{_file_name(data.train)}: no records left to train on after the held-out ones")
    return records


def _require_builtin(source: str) -> None:
    if source not in BUILTINS:
        raise DataError(f"unknown builtin data source {source!r}; known: {', '.join(BUILTINS)}")


def _load(source: str) -> list[Record]:
    return jsonl.parse(_read(source), _file_name(source))


def _read(source: str) -> str:
    try:
        return bucket.read_text(source)
    except bucket.ObjectNotFound:
        raise DataError(f"{source}: data file not found") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{source}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def _file_name(source: str) -> str:
    # Errors name the file as users wrote it, minus any scheme noise for local paths.
    return source.removeprefix("file://")
