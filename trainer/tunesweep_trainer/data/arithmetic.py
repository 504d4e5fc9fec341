"""`builtin:arithmetic`: two-digit additions with a short worked trace, e.g.

    Q: 39+79=?   ->   A: 30+70=100, 9+9=18, 100+18=118. ANSWER 118

Every (a, b) pair with 10 <= a, b <= 99 is one problem; a seeded shuffle deals the evaluation split
first and the training split after it, so the two never share a problem.
"""

from __future__ import annotations

import random

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


def splits(seed: int, train_size: int, eval_size: int) -> tuple[list[Record], list[Record]]:
    """(train, eval) records, disjoint, the same for the same seed and sizes."""
    if train_size + eval_size > len(PROBLEMS):
        raise DataError(
            f"{SOURCE} has {len(PROBLEMS)} distinct problems: data.train_size ({train_size}) + "
            f"data.eval_size ({eval_size}) must not exceed it"
        )
    order = list(PROBLEMS)
    random.Random(seed).shuffle(order)
    evaluation = [record(a, b) for a, b in order[:eval_size]]
    training = [record(a, b) for a, b in order[eval_size : eval_size + train_size]]
    return training, evaluation
