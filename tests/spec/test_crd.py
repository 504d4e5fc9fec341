"""The generated CRD: committed as generated, structural, and carrying the rules and names kubectl shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tunesweep_evidence.crd import CRD_PATH, build_crd, crd_yaml
from tunesweep_evidence.spec import IMMUTABLE_SPEC_FIELDS

from tests.spec.cases import TRIALS_DEFAULT

REPO = Path(__file__).resolve().parents[2]
CRD = build_crd()
VERSION = CRD["spec"]["versions"][0]
ROOT = VERSION["schema"]["openAPIV3Schema"]
SPEC = ROOT["properties"]["spec"]


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from nodes(node[key], f"{path}[{key}]")


def test_committed_crd_is_generated_from_the_models() -> None:
    committed = (REPO / CRD_PATH).read_text()
    assert committed == crd_yaml(), f"{CRD_PATH} is stale: run `tunesweep crd --output {CRD_PATH}`"
    assert yaml.safe_load(committed) == CRD


def test_schema_is_structural() -> None:
    for path, node in nodes(ROOT):
        where = path or "<root>"
        assert not {"$ref", "$defs", "allOf", "oneOf", "not", "nullable", "title"} & node.keys(), where
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") and node["anyOf"] == [
                {"type": "integer"},
                {"type": "string"},
            ], where
        else:
            assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), where
        assert not ("properties" in node and "additionalProperties" in node), where
        assert set(node.get("required", ())) <= node.get("properties", {}).keys(), where
        for rule in node.get("x-kubernetes-validations", ()):
            assert set(rule) <= {"rule", "message", "fieldPath"} and rule["rule"] and rule["message"], where


def test_free_form_values_are_preserved() -> None:
    free = {path for path, node in nodes(ROOT) if node.get("x-kubernetes-preserve-unknown-fields")}
    assert free == {
        ".spec.trainer.baseConfig",
        ".spec.searchSpace[additionalProperties].choice[items]",
        ".spec.searchSpace[additionalProperties].grid[items]",
        ".status.bestTrial.params",
        *(
            f".spec.resources.{overlay}.spec.{field}"
            for overlay in ("headPodTemplate", "workerPodTemplate")
            for field in (
                "affinity",
                "securityContext",
                "topologySpreadConstraints[items]",
                "volumes[items]",
                "containers[items].securityContext",
                "containers[items].env[items].valueFrom",
            )
        ),
    }


def test_spec_lists_maps_and_strings_are_bounded_for_the_cel_cost_budget() -> None:
    for path, node in nodes(SPEC, ".spec"):
        if node.get("type") == "array":
            assert "maxItems" in node, path
        if node.get("type") == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, path
        if node.get("type") == "string":
            assert "maxLength" in node or "enum" in node, path


def test_immutable_fields_have_transition_rules_once_the_plan_is_frozen() -> None:
    # on the whole object, where CEL can read the old status; nowhere below it
    frozen = {rule["fieldPath"]: rule["rule"] for rule in ROOT["x-kubernetes-validations"]}
    assert set(frozen) == {f".spec.{name}" for name in IMMUTABLE_SPEC_FIELDS}
    assert all("oldSelf.status.evidenceURI != ''" in rule for rule in frozen.values())
    assert not [
        path for path, node in nodes(SPEC, ".spec") if "oldSelf" in str(node.get("x-kubernetes-validations"))
    ]


def test_names_columns_and_status_subresource() -> None:
    names = CRD["spec"]["names"]
    assert CRD["metadata"]["name"] == "tuningsweeps.tunesweep.dev"
    assert (names["shortNames"], names["categories"]) == (["tsweep", "tsw"], ["tunesweep"])
    assert VERSION["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in VERSION["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Best": ".status.bestTrial.primaryScore",
        "Test": ".status.bestTrial.testScore",
        "Succeeded": ".status.trials.succeeded",
        "Failed": ".status.trials.failed",
        "Queued": ".status.trials.queued",
        "Spent": ".status.budget.spentOfLimit",
        "Age": ".metadata.creationTimestamp",
    }


def test_fields_are_explained() -> None:
    trials = SPEC["properties"]["trials"]
    assert trials["description"] == "How many trials, how many at once, and their limits."
    assert trials["properties"]["parallel"]["description"].startswith("Trials running at once")
    assert trials["default"] == TRIALS_DEFAULT
