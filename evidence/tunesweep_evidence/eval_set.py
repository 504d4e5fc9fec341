"""eval_set.json: the examples every trial of a sweep is evaluated on, and the check that each was.

The sweep driver records them at sweep start (from the plan's base config and the backend's data):
the eval set (`rows`, whose score chooses the winner) and the held-out test slice (`test_rows`,
scored by every trial and read by no decision). Promotion and verify compare each trial's rows with
them, so that a trial evaluated on other, fewer or easier examples cannot win (its score would not
be comparable).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

from .documents import EvalRow, EvalSet, EvalSetRow, EvalSummary
from .training_config import Backend, DataConfig
from .wording import counted

BUILTIN_PREFIX = "builtin:"

Example = tuple[str, str, str]
"""(id, prompt, expected answer)."""


def eval_set_row(row_id: str, prompt: str, expected: str) -> EvalSetRow:
    return EvalSetRow(id=row_id, expected=expected, prompt_sha256=prompt_digest(prompt))


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def build_eval_set(
    backend: Backend, data: DataConfig, eval_examples: Iterable[Example], test_examples: Iterable[Example]
) -> EvalSet:
    """eval_set.json of the eval examples and the test slice's, each an (id, prompt, expected)."""
    return EvalSet(
        backend=backend,
        source=data.eval,
        rows=[eval_set_row(*example) for example in eval_examples],
        test_rows=[eval_set_row(*example) for example in test_examples],
    )


def size_problems(eval_set: EvalSet, data: DataConfig) -> list[str]:
    """The recorded sets' sizes against the base config's `data.eval_size` and `data.test_size`, and
    the test slice apart from the eval set."""
    # A builtin source always has enough examples; a file gives at most its first eval_size records
    # as the eval set, then at most test_size as the test slice.
    builtin = data.eval.startswith(BUILTIN_PREFIX)
    problems = [
        f"{field}: {counted(count, 'example')} != data.{size_name} {size} of plan.json's base config"
        for field, count, size_name, size in (
            ("rows", len(eval_set.rows), "eval_size", data.eval_size),
            ("test_rows", len(eval_set.test_rows), "test_size", data.test_size),
        )
        if count > size or (builtin and count != size)
    ]
    shared = sorted({row.id for row in eval_set.rows} & {row.id for row in eval_set.test_rows})
    if shared:
        problems.append(f"test_rows: ids also in rows (the test slice must be held out): {_ids(shared)}")
    return problems


def evaluation_problems(eval_set: EvalSet, evaluation: EvalSummary) -> list[str]:
    """How a trial's eval_summary.json rows and test rows differ from the recorded ones."""
    return row_problems(eval_set.rows, evaluation.rows, "rows") + row_problems(
        eval_set.test_rows, evaluation.test_rows, "test_rows"
    )


def row_problems(recorded: Sequence[EvalSetRow], rows: Sequence[EvalRow], field: str) -> list[str]:
    """How a trial's `field` (rows or test_rows) differs from eval_set.json's: ids missing, added or
    repeated, and rows whose expected answer or prompt is not the recorded one."""
    problems = []
    source = f"eval_set.json {field}"
    by_id = {row.id: row for row in recorded}
    seen = Counter(row.id for row in rows)
    missing = [row.id for row in recorded if row.id not in seen]
    added = [row_id for row_id in seen if row_id not in by_id]
    repeated = sorted(row_id for row_id, count in seen.items() if count > 1)
    if missing:
        problems.append(f"{field}: {counted(len(missing), 'id')} of {source} missing: {_ids(missing)}")
    if added:
        problems.append(f"{field}: {counted(len(added), 'id')} not in {source}: {_ids(added)}")
    if repeated:
        problems.append(f"{field}: ids repeated: {_ids(repeated)}")
    for index, row in enumerate(rows):
        want = by_id.get(row.id)
        if want is None:
            continue
        label = f"{field}[{index}] (id {row.id!r})"
        if row.expected != want.expected:
            problems.append(f"{label}.expected {row.expected!r} != {source} {want.expected!r}")
        if prompt_digest(row.prompt) != want.prompt_sha256:
            problems.append(f"{label}.prompt differs from {source} (sha256 {want.prompt_sha256[:16]}…)")
    return problems


def _ids(ids: Sequence[str], shown: int = 5) -> str:
    text = ", ".join(repr(row_id) for row_id in ids[:shown])
    return text + (f", … ({len(ids) - shown} more)" if len(ids) > shown else "")
