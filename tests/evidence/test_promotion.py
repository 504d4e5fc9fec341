from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import BestParams
from tunesweep_evidence.promotion import (
    ConfigFoldError,
    PromotionError,
    PromotionRefusal,
    fold_params,
    promote,
    render_best_config_yaml,
)

from tests.evidence.builders import (
    BASE_CONFIG,
    PROMOTED_AT,
    SWEEP,
    TrialSpec,
    build_sweep,
    edit_json,
    lr_trials,
    write_plan,
    write_trial,
)


def test_fold_params_sets_dotted_paths_in_a_deep_copy() -> None:
    base = {"training": {"learning_rate": 0.1, "seed": 0}, "model": {"name": "tiny"}}
    folded = fold_params(
        base, {"training.learning_rate": 0.5, "model.lora.rank": 8, "eval.max_generation_steps": 9}
    )
    assert folded == {
        "training": {"learning_rate": 0.5, "seed": 0},
        "model": {"name": "tiny", "lora": {"rank": 8}},
        "eval": {"max_generation_steps": 9},
    }
    assert base == {"training": {"learning_rate": 0.1, "seed": 0}, "model": {"name": "tiny"}}


def test_fold_params_refuses_a_path_through_a_value() -> None:
    with pytest.raises(
        ConfigFoldError, match=r"param 'model\.name\.x': model\.name is 'tiny', not a section"
    ):
        fold_params({"model": {"name": "tiny"}}, {"model.name.x": 1})
    with pytest.raises(ConfigFoldError, match="empty segment"):
        fold_params({}, {"training..seed": 1})


def test_best_config_yaml_is_the_resolved_nested_config() -> None:
    text = render_best_config_yaml(fold_params(BASE_CONFIG, {"training.learning_rate": 0.004}))
    config = yaml.safe_load(text)
    assert list(config) == ["model", "training", "data", "eval"]
    assert config["training"]["learning_rate"] == 0.004
    assert config["training"]["per_device_batch_size"] == 8
    assert config["training"]["weight_decay"] == 0.0  # a default, pinned in the promoted file


def test_best_config_yaml_refuses_an_invalid_config() -> None:
    with pytest.raises(ValidationError, match="learning_rate"):
        render_best_config_yaml(fold_params(BASE_CONFIG, {"training.learning_rate": -1}))


def test_promote_writes_both_files_for_the_best_trial(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([0.0, 1.0], [1.0, 1.0], [0.0, 0.0]), promote_best=False)
    result = promote(root, now=PROMOTED_AT)

    assert (result.best.trial_id, result.best.primary_score) == ("1", 1.0)
    written = yaml.safe_load(bucket.read_text(layout.join(root, layout.BEST_CONFIG)))
    assert written == result.config == yaml.safe_load(result.config_yaml)
    assert written["training"]["learning_rate"] == pytest.approx(0.002)
    assert written["training"]["per_device_batch_size"] == 4
    record = bucket.read_document(layout.join(root, layout.BEST_PARAMS), BestParams)
    assert record == result.best_params
    assert record.model_dump(include={"trial_id", "run_id", "primary_score", "mode", "backend", "image"}) == {
        "trial_id": "1",
        "run_id": "run-1",
        "primary_score": 1.0,
        "mode": "production",
        "backend": "mock",
        "image": "trainer:test",
    }
    assert record.params == {"training.learning_rate": 0.002, "training.per_device_batch_size": 4}
    assert (record.sweep, record.evidence_uri, record.promoted_at) == (
        SWEEP,
        root,
        "2026-01-02T03:04:05+00:00",
    )
    assert record.trial_finished_at == "2026-01-01T00:11:00+00:00"
    assert result.best_trial_record.model_dump() == {
        "trial_id": "1",
        "params": record.params,
        "primary_score": 1.0,
    }


def test_promote_follows_the_objective_mode(tmp_path: Path) -> None:
    build_sweep(str(tmp_path), lr_trials([0.5], [0.25], [0.75]), objective_mode="min", promote_best=False)
    assert promote(str(tmp_path)).best.trial_id == "1"


def test_production_refuses_when_no_trial_is_scored(tmp_path: Path) -> None:
    build_sweep(str(tmp_path), lr_trials(None, []), promote_best=False)
    with pytest.raises(PromotionError, match="none of 2 trials has a primary score") as raised:
        promote(str(tmp_path))
    assert raised.value.reason == PromotionRefusal.no_scored_trial == "NoScoredTrial"
    assert bucket.list_dir(str(tmp_path / "promoted")) == []


def test_smoke_promotes_a_null_score(tmp_path: Path) -> None:
    trials = lr_trials(None, None)
    trials["0"].status = "failed"
    build_sweep(str(tmp_path), trials, mode="smoke", promote_best=False)
    result = promote(str(tmp_path))
    assert (result.best.trial_id, result.best_params.primary_score) == ("1", None)


def test_smoke_refuses_when_nothing_succeeded(tmp_path: Path) -> None:
    trials = lr_trials([1.0])
    trials["0"].status = "failed"
    build_sweep(str(tmp_path), trials, mode="smoke", promote_best=False)
    with pytest.raises(PromotionError) as raised:
        promote(str(tmp_path))
    assert raised.value.reason == PromotionRefusal.no_succeeded_trial


@pytest.mark.parametrize(
    ("objective_mode", "min_score", "promoted"),
    [("max", 0.5, True), ("max", 0.51, False), ("min", 0.5, True), ("min", 0.49, False)],
)
def test_min_score_respects_the_objective_mode(
    tmp_path: Path, objective_mode: str, min_score: float, promoted: bool
) -> None:
    build_sweep(
        str(tmp_path),
        lr_trials([0.5]),
        objective_mode=objective_mode,
        min_score=min_score,
        promote_best=False,
    )
    if promoted:
        assert promote(str(tmp_path)).best_params.primary_score == 0.5
        return
    with pytest.raises(PromotionError, match=r"worse than promotion\.minScore") as raised:
        promote(str(tmp_path))
    assert raised.value.reason == PromotionRefusal.below_min_score
    assert not bucket.exists(layout.join(str(tmp_path), layout.BEST_PARAMS))


def test_min_score_needs_a_real_score_even_in_smoke_mode(tmp_path: Path) -> None:
    build_sweep(str(tmp_path), lr_trials(None), mode="smoke", min_score=0.1, promote_best=False)
    with pytest.raises(PromotionError, match=r"promotion\.minScore refuses") as raised:
        promote(str(tmp_path))
    assert raised.value.reason == PromotionRefusal.no_scored_trial


def test_scores_are_recomputed_and_a_lying_summary_is_refused(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([0.0], [0.5]), promote_best=False)
    edit_json(layout.join(root, "trials/0/eval_summary.json"), lambda d: d.update(primary_score=1.0))
    with pytest.raises(PromotionError) as raised:
        promote(root)
    assert raised.value.reason == PromotionRefusal.invalid_evidence
    assert "trials/0/eval_summary.json: primary_score 1.0 != recomputed 0.0" in str(raised.value)


def test_invalid_evidence_is_refused_with_every_problem(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0], [1.0]), promote_best=False)
    edit_json(layout.join(root, "trials/0/run_manifest.json"), lambda d: d.update(status="done"))
    edit_json(layout.join(root, "trials/1/run_manifest.json"), lambda d: d.update(tuning_job_id="other"))
    with pytest.raises(PromotionError) as raised:
        promote(root)
    message = str(raised.value)
    assert "trials/0/run_manifest.json: status:" in message
    assert "trials/1/run_manifest.json: tuning_job_id 'other' != sweep uid '0b7c6f1e-uid'" in message


def test_missing_plan_is_invalid_evidence(tmp_path: Path) -> None:
    with pytest.raises(PromotionError, match=r"plan\.json: missing") as raised:
        promote(str(tmp_path))
    assert raised.value.reason == PromotionRefusal.invalid_evidence


def test_params_that_break_the_config_are_refused(tmp_path: Path) -> None:
    root = str(tmp_path)
    write_plan(root)
    write_trial(root, "0", TrialSpec(params={"training.learning_rate": 0.1}, correctness=[1.0]))
    edit_json(
        layout.join(root, "trials/0/run_manifest.json"), lambda d: d["params"].update({"training.bogus": 1})
    )
    with pytest.raises(PromotionError, match="trial 0's params do not fit the base config") as raised:
        promote(root)
    assert raised.value.reason == PromotionRefusal.invalid_config
