"""`builtin:arithmetic`: two-digit additions with a short worked trace, e.g.

    Q: 39+79=?   ->   A: 30+70=100, 9+9=18, 100+18=118. ANSWER 118

Every (a, b) pair with 10 <= a, b <= 99 is one problem; a seeded shuffle deals the held-out slices
first (the eval set, the test slice, the rung slice, in that order) and the training split after
them, so that no two of them share a problem.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .records import DataError, Record

SOURCE = "builtin:arithmetic"
PROBLEMS = [(a, b) for a in range(10, 100) for b in range(10, 100)]


def record(a: int, b: int) -> Record:
    tens, ones = (a // 10 * 10, b // 10 * 10), (a % 10, b % 10)
    tens_sum, ones_sum = sum(tens), sum(ones)
    trace = (
        f"A: {tens[0]}+{tens[1]}={tens_sum}, {ones[0]}+{ones[1]}={ones_sum}, {tens_sum}+{ones_sum}={a + b}."
    )
    return Record(id=f"add-{a}-{b}", prompt=f"Q: {a}+{b}=?", trace=trace, answer=str(a + b))


def deal(seed: int, sizes: Sequence[tuple[str, int]]) -> list[list[Record]]:
    """Disjoint slices of the named sizes (`data.<name>` for messages), in order; the same for the
    same seed and sizes."""
    if sum(size for _, size in sizes) > len(PROBLEMS):
        named = " + ".join(f"data.{name} ({size})" for name, size in sizes)
        raise DataError(f"{SOURCE} has {len(PROBLEMS)} distinct problems: {named} must not exceed it")
    order = list(PROBLEMS)
    random.Random(seed).shuffle(order)
    slices, start = [], 0
    for _, size in sizes:
        slices.append([record(a, b) for a, b in order[start : start + size]])
        start += size
    return slices
