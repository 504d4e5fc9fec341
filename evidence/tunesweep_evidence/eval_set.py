"""eval_set.json: the examples every trial of a sweep is evaluated on, and the check that each was.

The sweep driver records them at sweep start (from the plan's base config and the backend's data);
verify compares each trial's eval rows with them, so that a trial evaluated on other, fewer or
easier examples cannot win (its score would not be comparable).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

from .documents import EvalRow, EvalSet, EvalSetRow
from .training_config import Backend, DataConfig

BUILTIN_PREFIX = "builtin:"


def eval_set_row(row_id: str, prompt: str, expected: str) -> EvalSetRow:
    return EvalSetRow(id=row_id, expected=expected, prompt_sha256=prompt_digest(prompt))


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def build_eval_set(backend: Backend, data: DataConfig, examples: Iterable[tuple[str, str, str]]) -> EvalSet:
    """The eval set of (id, prompt, expected) examples, as eval_set.json records it."""
    return EvalSet(backend=backend, source=data.eval, rows=[eval_set_row(*example) for example in examples])


def size_problems(eval_set: EvalSet, data: DataConfig) -> list[str]:
    """The recorded set's size against the base config's `data.eval_size`."""
    count = len(eval_set.rows)
    # A builtin source always has enough examples; a file gives at most its first eval_size records.
    if count > data.eval_size or (data.eval.startswith(BUILTIN_PREFIX) and count != data.eval_size):
        return [f"rows: {count} examples != data.eval_size {data.eval_size} of plan.json's base config"]
    return []


def row_problems(eval_set: EvalSet, rows: Sequence[EvalRow]) -> list[str]:
    """How a trial's rows differ from the eval set: ids missing, added or repeated, and rows whose
    expected answer or prompt is not the recorded one."""
    problems = []
    recorded = {row.id: row for row in eval_set.rows}
    seen = Counter(row.id for row in rows)
    missing = [row.id for row in eval_set.rows if row.id not in seen]
    added = [row_id for row_id in seen if row_id not in recorded]
    repeated = sorted(row_id for row_id, count in seen.items() if count > 1)
    if missing:
        problems.append(f"rows: {len(missing)} eval_set.json ids missing: {_ids(missing)}")
    if added:
        problems.append(f"rows: {len(added)} ids not in eval_set.json: {_ids(added)}")
    if repeated:
        problems.append(f"rows: ids repeated: {_ids(repeated)}")
    for index, row in enumerate(rows):
        want = recorded.get(row.id)
        if want is None:
            continue
        label = f"rows[{index}] (id {row.id!r})"
        if row.expected != want.expected:
            problems.append(f"{label}.expected {row.expected!r} != eval_set.json {want.expected!r}")
        if prompt_digest(row.prompt) != want.prompt_sha256:
            problems.append(f"{label}.prompt differs from eval_set.json (sha256 {want.prompt_sha256[:16]}…)")
    return problems


def _ids(ids: Sequence[str], shown: int = 5) -> str:
    text = ", ".join(repr(row_id) for row_id in ids[:shown])
    return text + (f", … ({len(ids) - shown} more)" if len(ids) > shown else "")
