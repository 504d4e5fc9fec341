"""Resolve `data.train` / `data.eval` to records: a builtin generator or a JSONL file (path or bucket URI)."""

from __future__ import annotations

from tunesweep_evidence import bucket
from tunesweep_evidence.training_config import DataConfig

from . import arithmetic, jsonl
from .records import DataError, Record

BUILTIN_PREFIX = "builtin:"
BUILTINS = (arithmetic.SOURCE,)


def load_splits(data: DataConfig) -> tuple[list[Record], list[Record]]:
    """(train, eval) records for a data config."""
    builtin = (
        arithmetic.splits(data.seed, data.train_size, data.eval_size)
        if arithmetic.SOURCE in (data.train, data.eval)
        else None
    )
    return _load(data.train, builtin, 0), _load(data.eval, builtin, 1)[: data.eval_size]


def _load(source: str, builtin: tuple[list[Record], list[Record]] | None, split: int) -> list[Record]:
    if source.startswith(BUILTIN_PREFIX):
        if source not in BUILTINS or builtin is None:
            raise DataError(f"unknown builtin data source {source!r}; known: {', '.join(BUILTINS)}")
        return builtin[split]
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
