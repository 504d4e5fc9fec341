from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import BestParams
from tunesweep_evidence.promotion import PromotionError, PromotionRefusal, promote, render_best_config_yaml
from tunesweep_evidence.spec import OBJECTIVE_MESSAGE
from tunesweep_evidence.trial_config import ConfigFoldError, fold_params

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
    text = render_best_config_yaml(fold_params(BASE_CONFIG, {"training.learning_rate": 0.004}), "mock")
    config = yaml.safe_load(text)
    assert list(config) == ["model", "training", "data", "eval"]
    assert config["training"]["learning_rate"] == 0.004
    assert config["training"]["per_device_batch_size"] == 8
    assert config["training"]["weight_decay"] == 0.0  # a default, pinned in the promoted file


def test_best_config_yaml_refuses_an_invalid_config() -> None:
    with pytest.raises(ValidationError, match="learning_rate"):
        render_best_config_yaml(fold_params(BASE_CONFIG, {"training.learning_rate": -1}), "mock")


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
        "test_score": 1.0,
    }


def test_the_promoted_config_is_the_one_the_winner_trained_with(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([0.0, 0.0], [1.0, 1.0]), promote_best=False)
    trained = bucket.read_json(layout.join(root, "trials/1", layout.RUN_MANIFEST))["config"]
    assert promote(root).config == trained


def test_a_winner_that_trained_with_another_config_is_refused(tmp_path: Path) -> None:
    """A trial trained with a default the promoting image no longer has (or an edited config): its
    config is not the base config with its params, so it is not promoted under them."""
    root = str(tmp_path)
    build_sweep(root, lr_trials([0.0, 0.0], [1.0, 1.0]), promote_best=False)
    manifest = layout.join(root, "trials/1", layout.RUN_MANIFEST)
    edit_json(manifest, lambda d: d["config"]["data"].update(train_size=8000))
    with pytest.raises(PromotionError) as raised:
        promote(root)
    assert raised.value.reason == PromotionRefusal.invalid_evidence
    assert str(raised.value).endswith(
        "trials/1/run_manifest.json: config.data.train_size 8000 != expected 7850 "
        "(plan.json base config with params folded in)"
    )
    assert bucket.list_dir(layout.join(root, "promoted")) == []


def test_the_winners_held_out_test_score_is_recorded_beside_its_primary_score(tmp_path: Path) -> None:
    root = str(tmp_path)
    trials = lr_trials([0.0, 0.0], [1.0, 1.0])
    trials["1"].test_correctness = [1.0, 0.0]
    build_sweep(root, trials, promote_best=False)
    result = promote(root)
    assert (result.best_params.primary_score, result.best_params.test_score) == (1.0, 0.5)
    assert result.best_trial_record.test_score == 0.5


@pytest.mark.parametrize(
    ("field", "change", "problem"),
    [
        ("rows", {"expected": "7"}, "rows[0] (id 'q0').expected '7' != eval_set.json rows '1'"),
        ("test_rows", {"id": "q0"}, "test_rows: 1 id of eval_set.json test_rows missing: 't0'"),
    ],
)
def test_a_trial_scored_on_other_rows_is_refused(
    tmp_path: Path, field: str, change: dict[str, str], problem: str
) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0, 0.0], [1.0, 1.0]), promote_best=False)
    edit_json(layout.join(root, "trials/0", layout.EVAL_SUMMARY), lambda d: d[field][0].update(change))
    with pytest.raises(PromotionError) as raised:
        promote(root)
    assert raised.value.reason == PromotionRefusal.invalid_evidence
    assert f"trials/0/eval_summary.json: {problem}" in str(raised.value).splitlines()


def test_a_plan_that_optimises_another_objective_is_refused(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0, 0.0], [0.0, 0.0], [1.0, 1.0]), promote_best=False)
    edit_json(layout.join(root, layout.PLAN), lambda d: d["spec"]["objective"].update(metric="loss"))
    with pytest.raises(PromotionError) as raised:
        promote(root)
    assert raised.value.reason == PromotionRefusal.invalid_evidence
    assert f"plan.json: spec.objective.metric: {OBJECTIVE_MESSAGE}" in str(raised.value).splitlines()


def test_production_refuses_when_no_trial_is_scored(tmp_path: Path) -> None:
    build_sweep(str(tmp_path), lr_trials(None, None), promote_best=False)
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
    trials = lr_trials([1.0, 1.0])
    trials["0"].status = "failed"
    build_sweep(str(tmp_path), trials, mode="smoke", promote_best=False)
    with pytest.raises(PromotionError) as raised:
        promote(str(tmp_path))
    assert raised.value.reason == PromotionRefusal.no_succeeded_trial


@pytest.mark.parametrize(("min_score", "promoted"), [(0.5, True), (0.51, False)])
def test_min_score_is_the_lowest_score_promoted(tmp_path: Path, min_score: float, promoted: bool) -> None:
    build_sweep(str(tmp_path), lr_trials([1.0, 0.0]), min_score=min_score, promote_best=False)
    if promoted:
        assert promote(str(tmp_path)).best_params.primary_score == 0.5
        return
    with pytest.raises(PromotionError, match=r"scored 0\.5, below promotion\.minScore 0\.51") as raised:
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
    build_sweep(root, lr_trials([0.0, 0.0], [1.0, 0.0]), promote_best=False)
    edit_json(layout.join(root, "trials/0/eval_summary.json"), lambda d: d.update(primary_score=1.0))
    with pytest.raises(PromotionError) as raised:
        promote(root)
    assert raised.value.reason == PromotionRefusal.invalid_evidence
    assert "trials/0/eval_summary.json: primary_score 1.0 != recomputed 0.0" in str(raised.value)


def test_invalid_evidence_is_refused_with_every_problem(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0, 1.0], [1.0, 1.0]), promote_best=False)
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
