"""searchSpace and baseConfig against the training config. Python only: the CRD leaves baseConfig
free-form (the trainer owns its shape), so the API server cannot check these.

A searchSpace path names a field of `TrainingConfig` whether or not baseConfig sets it (omitted keys
take the defaults), and every value a dimension can sample must be a valid value of that field, as
the field itself says (its type, checked strictly, and its constraints: ge/gt/le/lt, Literal,
pattern): `choice: ["16", "32"]` for an integer field is an error, not a silent conversion, and so
is `training.max_steps: {choice: [0, 10]}` (max_steps >= 1). Every choice/grid value is checked, and
both ends of a range (randint's high is exclusive: its last value, high - 1, is checked). The
limits are read from the `TrainingConfig` fields, never copied here.

A custom trainer's base config (`backend: python | command`) is free-form: a searchSpace path must
name a key the base config itself sets (the trainer's own keys have no defaults here to fall back
on), and only the keys tunesweep reads (`CustomConfig`: `data`, `training.max_steps`, ...) have
limits to check sampled values against.

The evaluation protocol is locked (`PROTOCOL`): trials of one sweep are compared on the same eval,
test and rung examples, judged the same way, so no searchSpace path may name, lie under or hold
one of its fields.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from .spec_rules import Violation
from .training_config import CUSTOM_BACKENDS, config_model

if TYPE_CHECKING:
    from .spec import SearchDimension

_INTEGER_ERRORS = frozenset({"int_type", "int_from_float", "int_parsing"})

PROTOCOL = (
    "data.eval",
    "data.eval_size",
    "data.test_size",
    "data.rung_size",
    "data.seed",
    "data.prompt_template",
    "eval",
)
"""The evaluation protocol: which examples every trial is scored on, how they are shown and decoded.
`data.seed` draws the builtin sources' examples, so it is part of it."""


def training_config_violations(
    backend: str, base_config: Mapping[str, Any], search_space: Mapping[str, SearchDimension]
) -> list[Violation]:
    model = config_model(backend)
    found = [
        Violation(("trainer", "baseConfig", *error["loc"]), _base_config_message(error, model))
        for error in _errors(model, base_config)
    ]
    for path, dimension in search_space.items():
        if backend in CUSTOM_BACKENDS:
            problem = _protocol_problem(path) or _key_problem(path, base_config)
            if problem is not None:
                found.append(Violation(("searchSpace", path), problem))
            elif isinstance(declared := _field_at(path, model), FieldInfo):
                found += _sample_violations(path, declared, dimension)
            continue
        field = _protocol_problem(path) or _field_at(path, model)  # the field, or what is wrong with the path
        if isinstance(field, str):
            found.append(Violation(("searchSpace", path), field))
        else:
            found += _sample_violations(path, field, dimension)
    return found


def _key_problem(path: str, base_config: Mapping[str, Any]) -> str | None:
    """What is wrong with a dotted path into a custom trainer's base config, when it names no key of it."""
    node: Any = base_config
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, Mapping):
            return f"unknown path: {'.'.join(parts[:depth])} is a value, not a section"
        if part not in node:
            section = ".".join(parts[:depth]) or "baseConfig"
            known = ", ".join(map(str, node)) or "none"
            return (
                f"unknown path: a custom trainer's searchSpace paths name keys of trainer.baseConfig; "
                f"known keys under {section}: {known}"
            )
        node = node[part]
    return None


def _protocol_problem(path: str) -> str | None:
    """Why `path` may not be searched, when it names, lies under or holds a field of the protocol."""
    for locked in PROTOCOL:
        if path == locked or path.startswith(f"{locked}."):
            what = path
        elif locked.startswith(f"{path}."):
            what = f"{path} (it holds {locked})"
        else:
            continue
        return (
            "the evaluation protocol is fixed for a sweep: every trial is scored on the same eval, test "
            f"and rung examples, judged the same way, so {what} cannot be searched; put it in "
            "trainer.baseConfig instead"
        )
    return None


def _errors(target: Any, value: Any) -> list[Any]:
    # JSON in strict mode: what the API server stores, with no str->number coercion.
    try:
        TypeAdapter(target).validate_json(json.dumps(value, default=str), strict=True)
    except ValidationError as error:
        return list(error.errors(include_url=False))
    return []


def _base_config_message(error: Any, model: type[BaseModel]) -> str:
    if error["type"] != "extra_forbidden":
        return str(error["msg"])
    *section, key = map(str, error["loc"])
    known = _field_at(".".join([*section, key]), model, unknown="unknown key")
    return known if isinstance(known, str) else str(error["msg"])


def _field_at(path: str, model: type[BaseModel], unknown: str = "unknown path") -> FieldInfo | str:
    """The field of `model` (the training config) a dotted path names, or what is wrong with the path."""
    parts = path.split(".")
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            section = ".".join(parts[:depth]) or "baseConfig"
            return f"{unknown}; known keys under {section}: {', '.join(fields)}"
        if depth == len(parts) - 1:
            return fields[part]
        section_model = _model_in(fields[part].annotation)
        if section_model is None:
            return f"{unknown}: {'.'.join(parts[: depth + 1])} is a value, not a section"
        model = section_model
    raise AssertionError("unreachable: str.split returns at least one part")


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model of a section field (`LoraConfig | None` -> LoraConfig), None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        return next(filter(None, map(_model_in, get_args(annotation))), None)
    return None


def _sample_violations(path: str, field: FieldInfo, dimension: SearchDimension) -> list[Violation]:
    kind = dimension.kind()
    values = dimension.distributions()[kind] or []
    where = ("searchSpace", path, kind)
    if kind in ("loguniform", "uniform", "randint"):
        errors = _errors(field.annotation, values[0])
        if errors:
            if errors[0]["type"] in _INTEGER_ERRORS:
                return [
                    Violation(
                        where, f"{kind} samples floats, but {path} takes integers: use randint or choice"
                    )
                ]
            return [
                Violation(where, f"{kind} samples numbers, but {path} does not take them: {errors[0]['msg']}")
            ]
        low, high = values
        ends = (("low", 0, low), ("high", 1, high - 1 if kind == "randint" else high))
        found = []
        for end, index, value in ends:
            errors = _errors(_constrained(field), value)
            if errors:
                exclusive = index and kind == "randint"
                sampled = f" (high is exclusive: the largest value sampled is {value})" if exclusive else ""
                found.append(
                    Violation(
                        (*where, index),
                        f"{kind} {end} {json.dumps(values[index])} is outside {path}'s limits{sampled}: "
                        f"{errors[0]['msg']}",
                    )
                )
        return found
    found = []
    for index, value in enumerate(values):
        errors = _errors(_constrained(field), value)
        if errors:
            found.append(
                Violation((*where, index), f"{json.dumps(value)} is not a valid {path}: {errors[0]['msg']}")
            )
    return found


def _constrained(field: FieldInfo) -> Any:
    """The field's type with its own constraints (ge/gt/le/lt, pattern, ...), as pydantic checks it."""
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
