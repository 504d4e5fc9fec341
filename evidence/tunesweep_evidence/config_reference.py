"""`tunesweep explain BACKEND`: the reference of a backend's `baseConfig`, generated from its config
model (`training_config.config_model`): every key with its type, limits, default and description,
and the learning-rate schedule the built-in backends train with."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any, get_args

from pydantic import BaseModel

from . import schedule
from .training_config import Backend, TrainingConfig, TrainingSection, config_model
from .wording import counted

BACKENDS: tuple[str, ...] = get_args(Backend)
WIDTH = 100
INDENT = "    "
KEY_CONTINUATION = "      "
"""A key's line that wraps goes on deeper than its description."""


class UnknownBackend(ValueError):
    pass


def explain(backend: str) -> str:
    """The reference text for `backend`, or UnknownBackend naming the known ones."""
    if backend not in BACKENDS:
        raise UnknownBackend(f"unknown backend {backend!r}; known backends: {', '.join(BACKENDS)}")
    model = config_model(backend)
    schema = model.model_json_schema()
    lines = [
        f"baseConfig for `trainer.backend: {backend}`",
        *_wrapped(schema.get("description", ""), ""),
        *_wrapped(
            "Omitted keys take their defaults. searchSpace paths are these keys, dotted as below; "
            "every value a dimension samples must fit the key's type and limits.",
            "",
        ),
        "",
        *_keys(schema, schema.get("$defs", {}), ""),
    ]
    for section in SECTIONS.get(model, ()):
        lines += ["", *section()]
    return "\n".join(lines) + "\n"


def _keys(schema: dict[str, Any], defs: dict[str, Any], prefix: str) -> list[str]:
    lines = []
    for name, node in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        options = node.get("anyOf", [node])
        section = next((_resolved(o, defs) for o in options if "$ref" in o), None)
        nullable = {"type": "null"} in options
        if section is not None:
            kind = "section, or null" if nullable else "section"
            default = f", {_default(node)}" if "default" in node else ""  # a section's default is its keys'
            lines += _wrapped(f"{path}: {kind}{default}", "", KEY_CONTINUATION)
            lines += _wrapped(node.get("description") or section.get("description", ""), INDENT)
            lines += _keys(section, defs, f"{path}.")
        else:
            kind = " or ".join(_type(option) for option in options if option != {"type": "null"})
            if nullable:
                kind += " or null"
            lines += _wrapped(f"{path}: {kind}{_limits(node)}, {_default(node)}", "", KEY_CONTINUATION)
            lines += _wrapped(node.get("description", ""), INDENT)
    if schema.get("additionalProperties") is True:
        lines.append(f"{prefix}<any other key>: the trainer's own, passed through unchecked")
    return lines


def _resolved(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = defs[node["$ref"].removeprefix("#/$defs/")]
    return target


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return "one of " + ", ".join(map(str, node["enum"]))
    return str(node.get("type", "any value"))


_LIMITS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("minimum", ">= {}".format),
    ("exclusiveMinimum", "> {}".format),
    ("maximum", "<= {}".format),
    ("exclusiveMaximum", "< {}".format),
    ("minLength", lambda n: f"at least {counted(n, 'character')}"),
    ("maxLength", lambda n: f"at most {counted(n, 'character')}"),
    ("pattern", "matching {}".format),
)
"""JSON Schema limits in words."""


def _limits(node: dict[str, Any]) -> str:
    return "".join(f", {words(node[key])}" for key, words in _LIMITS if key in node)


def _default(node: dict[str, Any]) -> str:
    return f"default {json.dumps(node['default'])}" if "default" in node else "required"


def _wrapped(text: str, indent: str, continuation: str | None = None) -> list[str]:
    return textwrap.wrap(
        " ".join(text.split()),
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent if continuation is None else continuation,
        break_on_hyphens=False,
    )


def _schedule_section() -> list[str]:
    defaults = TrainingSection()
    peak, warmup, total = defaults.learning_rate, defaults.warmup_steps, defaults.max_steps
    updates = (1, warmup, warmup + 1, (warmup + total) // 2, total)
    rates = ", ".join(
        f"update {n}: {schedule.learning_rate_at(n - 1, peak, warmup, total):.3g}" for n in updates
    )
    return [
        "Learning-rate schedule",
        *_wrapped(schedule.DESCRIPTION, INDENT),
        *_wrapped(
            f"With the defaults (learning_rate {peak}, warmup_steps {warmup}, max_steps {total}): {rates}. "
            "metrics.jsonl reports each step's rate, and `tunesweep evidence verify` re-derives it.",
            INDENT,
        ),
    ]


SECTIONS: dict[type[BaseModel], tuple[Callable[[], list[str]], ...]] = {TrainingConfig: (_schedule_section,)}
"""More reference sections by config model, after the keys."""
