"""The pure warm-start checks (`tunesweep_evidence.warm_start`): a source trial as a point of this
sweep's search space, and what makes a source's scores not transfer, each naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from tunesweep_evidence.documents import EvalSet, EvalSetRow, JudgeInfo, SeededPoint, SkippedPoint
from tunesweep_evidence.judge import JUDGE, MOCK_JUDGE
from tunesweep_evidence.spec import SearchDimension, TuningSweepSpec
from tunesweep_evidence.warm_start import incompatibilities, judge_for, point

SPACE = {
    "training.learning_rate": SearchDimension(loguniform=[1e-4, 1e-2]),
    "training.per_device_batch_size": SearchDimension(choice=[4, 8]),
    "training.warmup_steps": SearchDimension(randint=[0, 10]),
}
CONFIG = {"training": {"learning_rate": 1e-3, "per_device_batch_size": 4, "warmup_steps": 5}}


def sweep_spec(backend: str = "mock", **fields: Any) -> TuningSweepSpec:
    base = {"training": {"max_steps": 20}, "data": {"eval_size": 2}}
    return TuningSweepSpec.model_validate(
        {
            "trainer": {"backend": backend, "baseConfig": base},
            "searchSpace": {"training.learning_rate": {"loguniform": [1e-4, 1e-2]}},
            "algorithm": {"name": "tpe"},
            "trials": {"count": 2, "parallel": 1},
        }
        | fields
    )


def eval_set(*expected: str) -> EvalSet:
    rows = [EvalSetRow(id=f"q{i}", expected=e, prompt_sha256="0" * 64) for i, e in enumerate(expected)]
    return EvalSet(backend="mock", source="builtin:arithmetic", rows=rows)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"training.learning_rate": 2e-3, "training.per_device_batch_size": 8},
            {"training.learning_rate": 2e-3, "training.per_device_batch_size": 8, "training.warmup_steps": 5},
        ),
        (
            {"training.learning_rate": 1e-4},
            {
                "training.learning_rate": 1e-4,
                "training.per_device_batch_size": 4,
                "training.warmup_steps": 5,
            },
        ),
    ],
)
def test_a_scored_trial_is_a_point_with_unsearched_paths_from_its_config(
    params: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert point("t", "succeeded", 0.5, params, CONFIG, SPACE) == SeededPoint(
        trial_id="t", params=expected, primary_score=0.5
    )


@pytest.mark.parametrize(
    ("status", "score", "params", "reason"),
    [
        ("failed", None, {}, "not scored (status failed)"),
        ("early_stopped", None, {}, "not scored (status early_stopped)"),
        ("succeeded", None, {}, "not scored (status succeeded)"),
        (
            "succeeded",
            0.5,
            {"training.learning_rate": 0.05},
            "outside this sweep's searchSpace: params.training.learning_rate: 0.05 is outside",
        ),
        (
            "succeeded",
            0.5,
            {"training.per_device_batch_size": 16},
            "outside this sweep's searchSpace: params.training.per_device_batch_size: 16 is outside",
        ),
        (
            "succeeded",
            0.5,
            {"training.warmup_steps": 10},  # randint's high is exclusive
            "outside this sweep's searchSpace: params.training.warmup_steps: 10 is outside",
        ),
    ],
)
def test_what_is_not_a_point_is_skipped_with_why(
    status: str, score: float | None, params: dict[str, Any], reason: str
) -> None:
    skipped = point("t", status, score, params, CONFIG, SPACE)
    assert isinstance(skipped, SkippedPoint) and skipped.reason.startswith(reason)


def test_a_compatible_source_has_no_problems() -> None:
    assert (
        incompatibilities(sweep_spec(), eval_set("1", "2"), [MOCK_JUDGE], sweep_spec(), eval_set("1", "2"))
        == []
    )


def test_each_incompatibility_names_its_field() -> None:
    source = sweep_spec(
        searchSpace={
            "training.learning_rate": {"loguniform": [1e-4, 1e-2]},
            "training.weight_decay": {"uniform": [0.0, 0.1]},
        },
        trainer={"backend": "mock", "baseConfig": {"training": {"max_steps": 30}, "data": {"eval_size": 2}}},
    )
    problems = incompatibilities(
        source,
        eval_set("1", "3"),
        [MOCK_JUDGE, JudgeInfo(name="mock-surface", version="1")],
        sweep_spec(),
        eval_set("1", "2"),
    )
    assert problems == [
        "eval_set.json rows: the source's eval examples (ids, expected answers, prompts) differ from this "
        "sweep's (data.eval builtin:arithmetic against builtin:arithmetic)",
        "judge mock-surface version 1 != this sweep's mock-surface version 2",
        "trainer.baseConfig.training.max_steps: the source's 30 != this sweep's 20",
        'searchSpace["training.weight_decay"]: searched by the source, not by this sweep '
        "(its scores depend on it)",
    ]


def test_another_backend_is_the_one_problem_named() -> None:
    problems = incompatibilities(sweep_spec("flax-lm"), None, [], sweep_spec(), eval_set("1"))
    assert problems == ["trainer.backend flax-lm != this sweep's mock"]


def test_a_source_without_an_eval_set_is_incompatible() -> None:
    problems = incompatibilities(sweep_spec(), None, [MOCK_JUDGE], sweep_spec(), eval_set("1", "2"))
    assert problems == ["eval_set.json missing: the source's evaluation protocol is unknown"]


def test_the_judge_is_the_backends() -> None:
    assert judge_for("mock") == MOCK_JUDGE
    assert judge_for("flax-lm") == judge_for("python") == JUDGE
