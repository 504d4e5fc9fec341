from __future__ import annotations

from tunesweep_evidence.wording import counted


def test_one_is_singular_and_other_counts_plural() -> None:
    assert [counted(n, "problem") for n in (0, 1, 2)] == ["0 problems", "1 problem", "2 problems"]
    assert counted(3, "matrix", "matrices") == "3 matrices"
    assert counted(1, "matrix", "matrices") == "1 matrix"
