"""JSONL record files: one {prompt, trace, answer} object a line (an optional `id` names the row)."""

from __future__ import annotations

import json
from typing import Any

from .records import DataError, Record

REQUIRED = ("prompt", "trace", "answer")


def parse(text: str, name: str) -> list[Record]:
    """Records of a JSONL document; `name` (the file) prefixes every error, with the line number."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            records.append(_record(line, f"{name}:{number}"))
    if not records:
        raise DataError(f"{name}: no records (the file is empty)")
    return records


def _record(line: str, where: str) -> Record:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(f"{where}: invalid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(data).__name__}")
    for field in REQUIRED:
        if field not in data:
            raise DataError(f"{where}: missing field {field!r}")
    for field in ("prompt", "trace"):
        if not isinstance(data[field], str):
            raise DataError(f"{where}: field {field!r} must be a string, got {_kind(data[field])}")
    if not data["prompt"].strip():
        raise DataError(f"{where}: field 'prompt' is empty")
    return Record(
        id=_id(data.get("id"), where),
        prompt=data["prompt"],
        trace=data["trace"],
        answer=_answer(data["answer"], where),
    )


def _answer(value: Any, where: str) -> str:
    # A numeric answer is fine in JSON ({"answer": 118}); booleans, lists and nulls are not answers.
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    raise DataError(f"{where}: field 'answer' must be a non-empty string or a number, got {_kind(value)}")


def _id(value: Any, where: str) -> str:
    if value is None:
        return where
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"{where}: field 'id' must be a string or an integer, got {_kind(value)}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
