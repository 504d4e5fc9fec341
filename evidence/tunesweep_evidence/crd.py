"""The TuningSweep CustomResourceDefinition, generated from the spec models (`tunesweep crd`).

pydantic's JSON Schema becomes a structural OpenAPI v3 schema for apiextensions.k8s.io/v1: $refs
inlined; `X | None` becomes X, not nullable (None means absent, the API server prunes nulls, and CEL
cannot compare a nullable field with null); values of no single type (baseConfig, choice/grid items)
become x-kubernetes-preserve-unknown-fields; each model's `rules` arrive as x-kubernetes-validations
through its JSON schema. Spec defaults are kept, so the stored object and CEL see what pydantic sees.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from .spec import (
    GROUP,
    IMMUTABLE_SPEC_FIELDS,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    TuningSweep,
    TuningSweepSpec,
    TuningSweepStatus,
)

CRD_PATH = "manifests/crd/tunesweep.dev_tuningsweeps.yaml"
"""Where the generated CRD is committed, relative to the repository root."""

HEADER = f"# Generated from tunesweep_evidence.spec by `tunesweep crd --output {CRD_PATH}`. Do not edit.\n"

_COPIED = frozenset(
    {
        "type",
        "description",
        "required",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "x-kubernetes-validations",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    }
)
"""JSON Schema keywords that mean the same in a CRD schema; any other keyword fails the build."""

_KEY_ORDER = {key: rank for rank, key in enumerate(("type", "anyOf", "description", "default", "required"))}
"""The keys people look for first lead each node; the rest keep pydantic's order."""

PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Best", "type": "number", "jsonPath": ".status.bestTrial.primaryScore"},
    {"name": "Test", "type": "number", "jsonPath": ".status.bestTrial.testScore"},
    {"name": "Succeeded", "type": "integer", "jsonPath": ".status.trials.succeeded"},
    {"name": "Failed", "type": "integer", "jsonPath": ".status.trials.failed"},
    {"name": "Queued", "type": "integer", "jsonPath": ".status.trials.queued"},
    {"name": "Spent", "type": "string", "jsonPath": ".status.budget.spentOfLimit"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def build_crd() -> dict[str, Any]:
    spec = structural(
        TuningSweepSpec.model_json_schema(by_alias=True, schema_generator=_WithFactoryDefaults), defaults=True
    )
    root = {
        "type": "object",
        "description": " ".join((TuningSweep.__doc__ or "").split()),
        "properties": {
            "apiVersion": {"type": "string", "description": "tunesweep.dev/v1alpha1"},
            "kind": {"type": "string", "description": KIND},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": structural(TuningSweepStatus.model_json_schema(by_alias=True), defaults=False),
        },
        "required": ["spec"],
        "x-kubernetes-validations": [frozen_field_rule(name) for name in IMMUTABLE_SPEC_FIELDS],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": ["tunesweep"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


FROZEN_MARK = TuningSweepStatus.model_fields["evidence_uri"].alias or "evidence_uri"
"""The status field the operator sets once plan.json is written: from then on the plan is frozen."""


def frozen_field_rule(name: str) -> dict[str, str]:
    """A transition rule on the whole object (only there can CEL read the old status): spec.`name`
    may change until the operator froze the plan, and never after. Before that, the operator starts
    from whatever the spec says when it freezes the plan."""
    frozen = f"has(oldSelf.status) && has(oldSelf.status.{FROZEN_MARK}) && oldSelf.status.{FROZEN_MARK} != ''"
    same = (
        f"has(self.spec.{name}) == has(oldSelf.spec.{name}) && "
        f"(!has(self.spec.{name}) || self.spec.{name} == oldSelf.spec.{name})"
    )
    return {
        "rule": f"!({frozen}) || ({same})",
        "message": f"spec.{name} is immutable once the sweep's plan is frozen (status.{FROZEN_MARK} is "
        "set when the sweep starts); create a new TuningSweep",
        "fieldPath": f".spec.{name}",
    }


def crd_yaml() -> str:
    """The CRD file's text, exactly as committed at CRD_PATH."""
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


class _WithFactoryDefaults(GenerateJsonSchema):
    """Defaults made by a factory (`Field(default_factory=Trials)`) are published too: a section left
    out is stored whole, and the API server checks its rules against what it stores."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        made = factory()  # type: ignore[call-arg]
        return (
            made.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(made, BaseModel)
            else made
        )


def structural(schema: dict[str, Any], *, defaults: bool) -> dict[str, Any]:
    """A pydantic model's JSON Schema as a structural schema; `defaults` keeps the models' defaults."""
    return _convert(schema, schema.get("$defs", {}), defaults)


def _convert(node: dict[str, Any], defs: dict[str, Any], defaults: bool) -> dict[str, Any]:
    node = _without_null(_inlined(node, defs), defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs") or (key == "additionalProperties" and value is False):
            continue  # unknown fields are pruned (and refused by kubectl's strict field validation)
        if key == "default":
            if defaults and value is not None:
                out["default"] = value
        elif key == "properties":
            out["properties"] = {name: _convert(sub, defs, defaults) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, defs, defaults)
        elif key == "additionalProperties" and value is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif key == "description":
            out[key] = " ".join(value.split())  # docstrings carry their source's line breaks
        elif key == "const":  # a one-value Literal; a structural schema has no const
            out["enum"] = [value]
        elif key == "exclusiveMinimum":  # pydantic's gt: OpenAPI v3.0 says it with a flag
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key in _COPIED:
            out[key] = value
        else:
            raise ValueError(f"no structural-schema equivalent for JSON Schema keyword {key!r}: {node}")
    if out.get("x-kubernetes-int-or-string"):
        del out["type"]
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    elif "type" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return dict(sorted(out.items(), key=lambda item: _KEY_ORDER.get(item[0], len(_KEY_ORDER))))


def _inlined(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in node:
        return node
    target = defs[node["$ref"].removeprefix("#/$defs/")]
    rest = {key: value for key, value in node.items() if key != "$ref"}
    return _inlined(target, defs) | rest  # the field's own description wins over its class's


def _without_null(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" not in node:
        return node
    kept = [option for option in node["anyOf"] if option != {"type": "null"}]
    if len(kept) != 1:
        raise ValueError(f"a union of several types has no structural schema: {node}")
    rest = {key: value for key, value in node.items() if key != "anyOf"}
    return _inlined(kept[0], defs) | rest
