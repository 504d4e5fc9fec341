"""Every rule is exercised by a bad spec, and every CEL rule by one that the API server must refuse
with the rule's own message (tests/spec/test_crd_apiserver.py): the Python check and its CEL twin
cannot drift apart unnoticed."""

from __future__ import annotations

import pytest
from tunesweep_evidence import spec
from tunesweep_evidence.spec_rules import Rule, RuleModel

from tests.spec.cases import BAD, SAME

MODELS: list[type[RuleModel]] = [
    model
    for model in vars(spec).values()
    if isinstance(model, type) and issubclass(model, RuleModel) and model is not RuleModel
]
RULES: list[tuple[str, Rule]] = [
    (f"{model.__name__}: {rule.message}", rule) for model in MODELS for rule in model.rules
]


def test_rules_are_found() -> None:
    assert len(RULES) >= 15


@pytest.mark.parametrize("rule", [rule for _, rule in RULES], ids=[name for name, _ in RULES])
def test_rule_has_a_bad_spec(rule: Rule) -> None:
    hits = [case for case in BAD if rule.message in case.message or case.message in rule.message]
    assert hits, f"no case in tests/spec/cases.py breaks {rule.message!r}"
    if rule.cel:
        assert any(case.server == SAME for case in hits), "a CEL rule needs a case the API server refuses"
    else:
        assert rule.server, "a rule CEL cannot express says what the API server does instead"
