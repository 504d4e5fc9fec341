"""Each bad spec is refused offline with one problem that names its field path and what is expected."""

from __future__ import annotations

import pytest
import yaml
from tunesweep_evidence.sweep_manifest import validate_documents

from tests.spec.cases import BAD, GOOD, MALFORMED_BOUNDS, Bad, Edit, MalformedBounds, with_edits


def test_the_bad_specs_are_many_and_distinct() -> None:
    assert len(BAD) >= 40
    assert len({case.id for case in BAD}) == len(BAD)
    assert len({yaml.safe_dump(case.manifest()) for case in BAD}) == len(BAD)


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_bad_spec_has_one_problem_at_its_path(case: Bad) -> None:
    problems = validate_documents(yaml.safe_dump(case.manifest()))
    assert [(p.path, p.document) for p in problems] == [(case.path, None)], problems
    assert case.message in problems[0].message


@pytest.mark.parametrize("edits", GOOD.values(), ids=list(GOOD))
def test_good_variants_pass(edits: tuple[Edit, ...]) -> None:
    assert validate_documents(yaml.safe_dump(with_edits(*edits))) == []


@pytest.mark.parametrize("case", MALFORMED_BOUNDS, ids=lambda case: case.id)
def test_malformed_bounds_are_named_offline(case: MalformedBounds) -> None:
    problems = validate_documents(yaml.safe_dump(case.manifest()))
    where = f'spec.searchSpace["training.max_steps"].{case.distribution}'
    assert problems and all(p.path.startswith(where) for p in problems), problems
    assert case.python in problems[0].message, problems
