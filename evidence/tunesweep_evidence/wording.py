"""Words for messages that count things."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str = "") -> str:
    """`1 problem`, `2 problems`; `plural` for a noun that does not just take an s."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
