"""A reasoning-trace record and the text a model is trained to produce from it."""

from __future__ import annotations

from dataclasses import dataclass

from tunesweep_evidence.judge import ANSWER_MARKER


class DataError(ValueError):
    """Data that cannot be used: a bad record (named by file and line), an empty or missing file."""


@dataclass(frozen=True)
class Record:
    id: str
    prompt: str
    trace: str
    answer: str


def target_text(record: Record) -> str:
    """What the model learns to write after the prompt: the trace, then the marked final answer."""
    trace = record.trace.strip()
    return f"{trace} {ANSWER_MARKER} {record.answer}" if trace else f"{ANSWER_MARKER} {record.answer}"


def prompt_text(record: Record, template: str) -> str:
    # str.replace, not str.format: prompts and templates may hold other braces.
    return template.replace("{prompt}", record.prompt)
