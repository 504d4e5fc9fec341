from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.verify import PROMOTED_IS_PART, verify

from tests.evidence.builders import ASHA, build_sweep, edit_json, lr_trials, run_evidence_cli


@pytest.fixture
def sweep(tmp_path: Path) -> str:
    """Trial 0 scores 0.5, trial 1 scores 1.0 (the best), trial 2 failed before its evaluation."""
    root = str(tmp_path / "sweep")
    trials = lr_trials([1.0, 0.0], [1.0, 1.0], None)
    trials["2"].status = "failed"
    build_sweep(root, trials)
    return root


def verify_lines(root: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """verify's exit code and lines, sha256 values elided (they depend on the temporary path)."""
    code = run_evidence_cli("verify", root)
    return code, [re.sub(r"[0-9a-f]{16}…", "…", line) for line in capsys.readouterr().out.splitlines()]


def changed(rel: str) -> str:
    return f"{rel}: sha256 … != digests.json … (changed after the promotion)"


def test_a_consistent_sweep_is_ok(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = verify_lines(sweep, capsys)
    assert code == 0
    assert lines == [f"OK {sweep}: 3 trials (2 scored), best trial 1 primary_score 1.0; 14 files checked"]


def test_a_changed_summary_score_is_named(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    edit_json(layout.join(sweep, "trials/0/eval_summary.json"), lambda d: d.update(primary_score=0.25))
    edit_json(layout.join(sweep, layout.SWEEP_SUMMARY), lambda d: d["trials"][1].update(primary_score=0.75))
    assert verify_lines(sweep, capsys) == (
        1,
        [
            "trials/0/eval_summary.json: primary_score 0.25 != recomputed 0.5",
            "sweep_summary.json: trials[1] (trial 1) primary_score 0.75 != recomputed 1.0",
            changed("sweep_summary.json"),
            changed("trials/0/eval_summary.json"),
        ],
    )


def test_rescored_rows_that_change_the_best_are_named(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    def all_correct(summary: dict[str, Any]) -> None:
        summary["rows"][1]["metrics"]["answer_correctness"] = 1.0
        summary["primary_score"] = 1.0

    # Trial 0 now ties trial 1 at 1.0 and finished first, so it is the best.
    edit_json(layout.join(sweep, "trials/0/eval_summary.json"), all_correct)
    assert verify_lines(sweep, capsys) == (
        1,
        [
            "trials/0/eval_summary.json: rows[1] (id 'q1').metrics.answer_correctness 1.0 != re-judged 0.0 "
            "(prediction 'ANSWER wrong', expected '2')",
            "sweep_summary.json: trials[0] (trial 0) primary_score 0.5 != recomputed 1.0",
            "sweep_summary.json: best_trial 1 != recomputed 0",
            "promoted/best_params.json: trial_id 1 != recomputed best 0",
            "promoted/best_config.yaml: training.learning_rate 0.002 != expected 0.001",
            changed("trials/0/eval_summary.json"),
        ],
    )


def test_a_claimed_best_that_is_not_the_best_is_named(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    edit_json(
        layout.join(sweep, layout.SWEEP_SUMMARY),
        lambda d: d.update(best_trial={"trial_id": "0", "params": {}, "primary_score": 0.5}),
    )
    edit_json(
        layout.join(sweep, layout.BEST_PARAMS), lambda d: d.update(params={"training.learning_rate": 9})
    )
    assert verify_lines(sweep, capsys) == (
        1,
        [
            "sweep_summary.json: best_trial 0 != recomputed 1",
            "promoted/best_params.json: params {'training.learning_rate': 9} != expected "
            "{'training.learning_rate': 0.002, 'training.per_device_batch_size': 4}",
            changed(layout.BEST_PARAMS),
            changed(layout.SWEEP_SUMMARY),
        ],
    )


def test_an_edited_best_config_is_named(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    uri = layout.join(sweep, layout.BEST_CONFIG)
    bucket.write_text(uri, bucket.read_text(uri).replace("learning_rate: 0.002", "learning_rate: 0.5"))
    assert verify_lines(sweep, capsys) == (
        1,
        [
            "promoted/best_config.yaml: training.learning_rate 0.5 != expected 0.002",
            changed(layout.BEST_CONFIG),
        ],
    )


def test_broken_schemas_are_named_by_file_and_field(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    edit_json(layout.join(sweep, "trials/2/run_manifest.json"), lambda d: d.update(seed="zero"))
    edit_json(layout.join(sweep, layout.PLAN), lambda d: d.pop("created_at"))
    metrics = layout.join(sweep, "trials/0/metrics.jsonl")
    bucket.write_text(metrics, bucket.read_text(metrics).replace('"step": 20', '"step": "twenty"'))
    bucket.write_text(layout.join(sweep, layout.BEST_CONFIG), "model: {name: tiny, layers: 3}\n")
    code, lines = verify_lines(sweep, capsys)
    assert code == 1
    assert lines == [
        "plan.json: (document): 'created_at' is a required property",
        "trials/2/run_manifest.json: seed: 'zero' is not of type 'integer'",
        "trials/0/metrics.jsonl:2: step: 'twenty' is not of type 'integer'",
        "sweep_summary.json: trials[2] (trial 2) has no valid evidence under trials/2/",
        "promoted/best_config.yaml: model: Additional properties are not allowed ('layers' was unexpected)",
        changed(layout.PLAN),
        changed(layout.BEST_CONFIG),
        changed("trials/0/metrics.jsonl"),
        changed("trials/2/run_manifest.json"),
    ]


def test_a_missing_promoted_file_is_named(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    Path(sweep, layout.BEST_CONFIG).unlink()
    assert verify_lines(sweep, capsys) == (
        1,
        [
            "promoted/best_config.yaml: missing (this sweep was promoted: a promotion writes promoted/ "
            "and digests.json)",
            "promoted/best_config.yaml: missing, but listed in digests.json",
        ],
    )


def test_a_partial_promotion_is_named_in_any_state(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    edit_json(layout.join(sweep, layout.SWEEP_SUMMARY), lambda d: d.update(status="running"))
    Path(sweep, layout.BEST_PARAMS).unlink()
    Path(sweep, layout.DIGESTS).unlink()
    assert verify_lines(sweep, capsys) == (
        1,
        ["promoted/best_params.json: missing (a promotion writes both promoted files)"],
    )


@pytest.mark.parametrize("suffix", ["", "/"])
def test_the_promoted_folder_is_checked_with_its_sweep(
    sweep: str, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    promoted = layout.join(sweep, layout.PROMOTED) + suffix
    ok = "3 trials (2 scored), best trial 1 primary_score 1.0; 14 files checked"
    assert verify_lines(promoted, capsys) == (0, [f"OK {sweep}: {PROMOTED_IS_PART}: {ok}"])
    uri = layout.join(sweep, layout.BEST_CONFIG)
    bucket.write_text(uri, bucket.read_text(uri).replace("learning_rate: 0.002", "learning_rate: 0.5"))
    code, lines = verify_lines(promoted, capsys)
    assert (code, lines[0]) == (1, "promoted/best_config.yaml: training.learning_rate 0.5 != expected 0.002")


def test_a_promoted_folder_outside_a_sweep_is_not_evidence(tmp_path: Path) -> None:
    promoted = tmp_path / layout.PROMOTED
    promoted.mkdir()
    (promoted / "best_params.json").write_text("{}")
    assert verify(str(promoted)).problems == [
        f"{promoted}: no evidence here: expected plan.json and trials/ (a sweep) "
        "or run_manifest.json (a trial)"
    ]


def test_the_failure_line_counts_in_words(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    trial = layout.join(sweep, "trials/0")
    edit_json(layout.join(trial, layout.EVAL_SUMMARY), lambda d: d.update(n_examples=3))
    assert run_evidence_cli("verify", trial) == 1
    failed = f"FAILED {trial}: 1 problem; trial 0: primary_score 0.5; 3 files checked\n"
    assert capsys.readouterr().err == failed
    edit_json(layout.join(trial, layout.EVAL_SUMMARY), lambda d: d.update(n_examples=3, trial_id="9"))
    assert run_evidence_cli("verify", trial) == 1
    assert f"FAILED {trial}: 2 problems; " in capsys.readouterr().err


def test_a_single_trial_folder(sweep: str, capsys: pytest.CaptureFixture[str]) -> None:
    trial = layout.join(sweep, "trials/0")
    assert verify(trial).summary == "trial 0: primary_score 0.5; 3 files checked"
    edit_json(layout.join(trial, layout.EVAL_SUMMARY), lambda d: d.update(n_examples=3))
    assert verify_lines(trial, capsys) == (1, ["eval_summary.json: n_examples 3 != 2 rows"])


def test_a_single_trial_folder_of_a_sweep_with_rungs(tmp_path: Path) -> None:
    """Without plan.json the rungs are unknown: the steps the trial scored a rung at are taken as its
    rungs, and the report steps must follow from them."""
    root = str(tmp_path / "asha")
    build_sweep(root, lr_trials([1.0, 0.0], [1.0, 1.0]), early_stopping=ASHA)
    trial = layout.join(root, "trials/0")
    assert verify(trial).ok
    uri = layout.join(trial, layout.METRICS)
    bucket.write_text(uri, bucket.read_text(uri).replace('"rung_score": 0.5, ', "", 1))
    assert verify(trial).problems == [
        "metrics.jsonl:1: step 5 != expected 10 (training.report_every_steps 10, training.max_steps 20 of "
        "run_manifest.json config; rung steps [10])"
    ]


def test_nothing_to_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = verify_lines(str(tmp_path), capsys)
    assert code == 1
    assert lines == [
        f"{tmp_path}: no evidence here: expected plan.json and trials/ (a sweep) "
        "or run_manifest.json (a trial)"
    ]


def test_an_unusable_location_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_evidence_cli("verify", "ftp://host/x") == 2
    assert "unsupported scheme 'ftp'" in capsys.readouterr().err
