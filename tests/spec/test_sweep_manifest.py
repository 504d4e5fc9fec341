"""Reading manifests as kubectl does; problems of multi-document files; `load_sweep`; kopf bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tunesweep_evidence.spec import OBJECTIVE_MESSAGE, Accelerator, TuningSweep
from tunesweep_evidence.sweep_manifest import Problem, SpecError, load_sweep, parse_sweep, validate_documents

from tests.spec.cases import BASE, at, with_edits

SWEEP = yaml.safe_dump(BASE)
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n"


def test_exponents_without_a_dot_are_numbers_as_for_kubectl() -> None:
    text = SWEEP.replace("- 0.0001", "- 1e-4").replace("- 0.01", "- 1E-2")
    assert "1e-4" in text and "1E-2" in text
    assert validate_documents(text) == []


def test_a_repeated_key_is_an_error_as_for_kubectl() -> None:
    text = SWEEP.replace("  trials:\n", "  trials:\n    count: 3\n", 1)
    [problem] = validate_documents(text)
    assert problem.path == "" and "key 'count' is given twice" in problem.message


def test_documents_of_other_kinds_are_skipped_and_problems_are_numbered() -> None:
    bad = yaml.safe_dump(with_edits(at("spec.trials", count=1, parallel=2)))
    problems = validate_documents("---\n".join([CONFIG_MAP, SWEEP, bad]))
    assert problems == [
        Problem("spec.trials.parallel", problems[0].message, document=3),
    ]
    assert (
        problems[0].line("f.yaml").startswith("f.yaml:doc 3: spec.trials.parallel: trials.parallel must be")
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CONFIG_MAP, "no TuningSweep document"),
        ("", "no TuningSweep document"),
        ("spec: [unclosed", "not valid YAML: line 1, column 16: expected ',' or ']'"),
        (SWEEP.replace("v1alpha1", "v1"), "expected apiVersion tunesweep.dev/v1alpha1, kind TuningSweep"),
        ("- kind: TuningSweep\n", "not a Kubernetes object"),
    ],
)
def test_whole_file_problems(text: str, message: str) -> None:
    [problem] = validate_documents(text)
    assert problem.path == "" and message in problem.message


def test_several_problems_are_all_reported() -> None:
    manifest = with_edits(
        at("spec.searchSpace", **{"training.lr": {"choice": [1]}, "training.seed": {"choice": ["a", "b"]}}),
        at("spec.trainer.baseConfig.training", max_steps=-1),
    )
    paths = [p.path for p in validate_documents(yaml.safe_dump(manifest))]
    assert paths == [
        "spec.trainer.baseConfig.training.max_steps",
        'spec.searchSpace["training.lr"]',
        'spec.searchSpace["training.seed"].choice[0]',
        'spec.searchSpace["training.seed"].choice[1]',
    ]


def test_load_sweep_returns_the_model(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG_MAP + "---\n" + SWEEP)
    sweep = load_sweep(path)
    assert isinstance(sweep, TuningSweep)
    assert sweep.spec.search_space["training.learning_rate"].kind() == "loguniform"
    assert sweep.spec.resources.per_trial.accelerator is Accelerator.none


def test_load_sweep_names_the_file_in_its_error(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(with_edits(at("spec.objective", mode="up"))))
    with pytest.raises(SpecError) as raised:
        load_sweep(path)
    assert str(raised.value) == f"{path}: spec.objective.mode: {OBJECTIVE_MESSAGE}"
    path.write_text(SWEEP + "---\n" + SWEEP)
    with pytest.raises(SpecError, match="holds 2 TuningSweeps"):
        load_sweep(path)


def test_parse_sweep_takes_a_stored_object_with_status() -> None:
    body = with_edits(
        at("metadata", uid="u-1", generation=2, resourceVersion="7"), at("status", phase="Running")
    )
    sweep = parse_sweep(body)
    assert (sweep.metadata.uid, sweep.metadata.generation) == ("u-1", 2)
    with pytest.raises(SpecError) as raised:
        parse_sweep(with_edits(at("spec.trials", parallel=9)))
    assert [p.path for p in raised.value.problems] == ["spec.trials.parallel"]
