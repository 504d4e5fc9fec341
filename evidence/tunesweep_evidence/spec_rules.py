"""Cross-field rules of the TuningSweep spec, each written once for both of its checkers.

A `Rule` sits on the model it reads. Its `check` runs in pydantic (so `tunesweep validate`, the
operator and the trainer refuse what the API server refuses) and its `cel` becomes an
`x-kubernetes-validations` entry on that model's node of the generated CRD. Both share one message
and one field path, so the user reads the same words from either. A rule with `cel=None` is one
CEL cannot express; `server` says what the API server does instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from ._model import WireModel

RULE_ERROR = "tuningsweep_rule"
"""The pydantic error type whose ctx carries `violations` (see `rule_error`, `sweep_manifest`)."""

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Violation:
    field: FieldPath
    """Relative to the model that found it, camelCase (as the user wrote it)."""
    message: str


@dataclass(frozen=True)
class Rule:
    message: str
    check: Callable[[Any], bool]
    """True when the model (an instance of the class the rule sits on) obeys the rule."""
    cel: str | None
    field: tuple[str, ...] = ()
    """Where the user should look, relative to the model; CEL's fieldPath is made from it."""
    server: str = ""
    """For `cel=None`: what the API server checks instead (empty: nothing)."""

    def x_kubernetes_validation(self) -> dict[str, str]:
        entry = {"rule": self.cel or "", "message": self.message}
        if self.field:
            entry["fieldPath"] = "".join(f".{part}" for part in self.field)
        return entry


def rule_error(violations: Sequence[Violation]) -> PydanticCustomError:
    """One pydantic error for all of a model's violations (`sweep_manifest.violations_of` splits it)."""
    return PydanticCustomError(
        RULE_ERROR,
        "{summary}",
        {
            "summary": "; ".join(_describe(v) for v in violations),
            "violations": tuple(violations),
        },
    )


def _describe(violation: Violation) -> str:
    where = ".".join(map(str, violation.field))
    return f"{where}: {violation.message}" if where else violation.message


def _schema_extra(schema: dict[str, Any], cls: type[RuleModel]) -> None:
    cel = [rule.x_kubernetes_validation() for rule in cls.rules if rule.cel]
    if cel:
        schema["x-kubernetes-validations"] = cel
    schema.update(cls.schema_extra)


class RuleModel(WireModel):
    """A wire model with `rules`, checked after its fields validate and published in its JSON schema."""

    model_config = ConfigDict(json_schema_extra=_schema_extra)
    rules: ClassVar[tuple[Rule, ...]] = ()
    schema_extra: ClassVar[dict[str, Any]] = {}
    """Extra OpenAPI keywords for this model's node (e.g. minProperties)."""

    def more_violations(self) -> list[Violation]:
        """Checks that yield several problems at once (Python only); none by default."""
        return []

    @model_validator(mode="after")
    def _obey_rules(self) -> Self:
        found = [Violation(rule.field, rule.message) for rule in self.rules if not rule.check(self)]
        found += self.more_violations()
        if found:
            raise rule_error(found)
        return self
