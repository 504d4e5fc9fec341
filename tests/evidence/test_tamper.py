"""Careful tampering with a finished sweep, each time with every derived score restated to match:
verify must still fail, naming the file and the field."""

from __future__ import annotations

import json
import re
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import bucket, layout, primary_score
from tunesweep_evidence.digests import write_digests
from tunesweep_evidence.promotion import promote
from tunesweep_evidence.trial_config import fold_params, resolved_config
from tunesweep_evidence.verify import verify

from tests.evidence.builders import ASHA, BASE_CONFIG, build_sweep, edit_json, lr_trials, run_evidence_cli

TRIAL0 = "trials/0"


@pytest.fixture
def sweep(tmp_path: Path) -> str:
    """Trial 0 scores 0.5, trial 1 scores 1.0 (the best, promoted), trial 2 scores 0.0."""
    root = str(tmp_path / "sweep")
    build_sweep(root, lr_trials([1.0, 0.0], [1.0, 1.0], [0.0, 0.0]))
    assert verify(root).ok
    return root


def problems(root: str) -> list[str]:
    report = verify(root)
    assert not report.ok
    return [re.sub(r"[0-9a-f]{16}…", "…", line) for line in report.problems]


def restate_scores(root: str, trial_id: str) -> None:
    """What a careful tamperer does after editing rows: every score derived from them agrees."""
    uri = layout.join(root, f"trials/{trial_id}/{layout.EVAL_SUMMARY}")
    summary = bucket.read_json(uri)
    score = primary_score.primary_score(summary["rows"])
    summary.update(primary_score=score, n_examples=len(summary["rows"]))
    bucket.write_text(uri, json.dumps(summary))
    edit_json(
        layout.join(root, layout.SWEEP_SUMMARY),
        lambda d: [t.update(primary_score=score) for t in d["trials"] if t["trial_id"] == trial_id],
    )


def edit_metrics(root: str, trial_id: str, change: Any) -> None:
    """`change(lines)` edits a trial's metrics.jsonl lines in place; the digests are restated."""
    uri = layout.join(root, f"trials/{trial_id}", layout.METRICS)
    lines = [json.loads(line) for line in bucket.read_text(uri).splitlines()]
    change(lines)
    bucket.write_text(uri, "".join(json.dumps(line) + "\n" for line in lines))
    write_digests(root)


def test_a_wrong_prediction_marked_correct(sweep: str) -> None:
    edit_json(
        layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY),
        lambda d: d["rows"][1]["metrics"].update(answer_correctness=1.0),
    )
    restate_scores(sweep, "0")
    assert (
        "trials/0/eval_summary.json: rows[1] (id 'q1').metrics.answer_correctness 1.0 != re-judged 0.0 "
        "(prediction 'ANSWER wrong', expected '2')"
    ) in problems(sweep)


def test_an_extracted_answer_rewritten(sweep: str) -> None:
    edit_json(
        layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), lambda d: d["rows"][1].update(extracted_answer="2")
    )
    assert "trials/0/eval_summary.json: rows[1] (id 'q1').extracted_answer '2' != re-judged 'wrong'" in (
        problems(sweep)
    )


def test_promoted_files_deleted_from_a_succeeded_sweep(sweep: str) -> None:
    for rel in (layout.BEST_CONFIG, layout.BEST_PARAMS, layout.DIGESTS):
        Path(sweep, rel).unlink()
    # the local driver promoted it (sweep_summary.json promoted_by driver)
    why = "missing (this sweep was promoted: a promotion writes promoted/ and digests.json)"
    assert problems(sweep) == [
        f"promoted/best_config.yaml: {why}",
        f"promoted/best_params.json: {why}",
        f"digests.json: {why}",
    ]


def test_an_operator_promotion_is_required_once_it_began(tmp_path: Path) -> None:
    """On a cluster the driver's succeeded summary comes before the operator's promotion (which may
    refuse): consistent without it, and then every promoted file is required."""
    root = str(tmp_path / "cluster")
    build_sweep(root, lr_trials([1.0, 0.0], [1.0, 1.0], [0.0, 0.0]), promote_best=False)
    assert verify(root).ok
    promote(root)
    assert verify(root).ok
    Path(root, layout.BEST_PARAMS).unlink()
    assert problems(root) == [
        "promoted/best_params.json: missing (this sweep was promoted: a promotion writes promoted/ and "
        "digests.json)",
        "promoted/best_params.json: missing, but listed in digests.json",
    ]


def test_a_metrics_file_deleted(sweep: str) -> None:
    Path(sweep, TRIAL0, layout.METRICS).unlink()
    write_digests(sweep)  # even with the digests restated
    assert problems(sweep) == ["trials/0/metrics.jsonl: missing (required for a succeeded trial)"]


def test_a_manifest_config_that_is_not_base_plus_params(sweep: str) -> None:
    edit_json(
        layout.join(sweep, TRIAL0, layout.RUN_MANIFEST),
        lambda d: d["config"]["training"].update(max_steps=40),
    )
    write_digests(sweep)
    assert problems(sweep) == [
        "trials/0/run_manifest.json: config.training.max_steps 40 != expected 20 "
        "(plan.json base config with params folded in)",
        "trials/0/metrics.jsonl: 2 reports, but a succeeded trial reports 4 (every "
        "training.report_every_steps 10 up to training.max_steps 40 of run_manifest.json config)",
        "trials/0/metrics.jsonl:1: learning_rate 0.0008345653031794292 != schedule 0.0009681174353198686 "
        "at step 10 "
        "(training.learning_rate 0.001, warmup_steps 5, max_steps 40 of run_manifest.json config); "
        "lines that differ: 2 of 2",
    ]


def test_two_trials_params_and_configs_swapped(sweep: str) -> None:
    manifests = {t: bucket.read_json(layout.join(sweep, f"trials/{t}", layout.RUN_MANIFEST)) for t in "02"}
    for mine, theirs in (("0", "2"), ("2", "0")):
        update = {key: manifests[theirs][key] for key in ("params", "config")}
        edit_json(layout.join(sweep, f"trials/{mine}", layout.RUN_MANIFEST), lambda d, u=update: d.update(u))

    def swap(summary: dict[str, Any]) -> None:
        records = {t["trial_id"]: t for t in summary["trials"]}
        records["0"]["params"], records["2"]["params"] = records["2"]["params"], records["0"]["params"]

    edit_json(layout.join(sweep, layout.SWEEP_SUMMARY), swap)
    write_digests(sweep)
    found = problems(sweep)
    assert len(found) == 2
    # The metrics were reported under each trial's real learning rate: the schedule gives it away.
    assert found == [
        "trials/0/metrics.jsonl:1: learning_rate 0.0008345653031794292 != schedule 0.0025036959095382874 "
        "at step 10 (training.learning_rate 0.003, warmup_steps 5, max_steps 20 of run_manifest.json "
        "config); lines that differ: 2 of 2",
        "trials/2/metrics.jsonl:1: learning_rate 0.0025036959095382874 != schedule 0.0008345653031794292 "
        "at step 10 (training.learning_rate 0.001, warmup_steps 5, max_steps 20 of run_manifest.json "
        "config); lines that differ: 2 of 2",
    ]


def test_eval_rows_cut_to_the_correct_ones(sweep: str) -> None:
    edit_json(layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), lambda d: d.update(rows=d["rows"][:1]))
    restate_scores(sweep, "0")
    assert "trials/0/eval_summary.json: rows: 1 id of eval_set.json rows missing: 'q1'" in problems(sweep)


def test_a_digest_edited(sweep: str) -> None:
    edit_json(layout.join(sweep, layout.DIGESTS), lambda d: d["files"][layout.PLAN].update(sha256="0" * 64))
    assert problems(sweep) == ["plan.json: sha256 … != digests.json … (changed after the promotion)"]


def test_an_extra_file(sweep: str) -> None:
    bucket.write_text(layout.join(sweep, "promoted/notes.txt"), "hello")
    assert problems(sweep) == ["promoted/notes.txt: not listed in digests.json (added after the promotion)"]


def test_ray_state_is_not_covered(sweep: str) -> None:
    bucket.write_text(layout.join(sweep, "ray/experiment_state.json"), "{}")
    assert verify(sweep).ok


def test_a_local_rays_session_is_not_evidence() -> None:
    """`tunesweep run` keeps Ray's session (sockets that cannot be read) in the run folder when its
    path is short: promotion and verify leave it out."""
    # a short folder of its own: a socket's path has at most 107 bytes, and pytest's may be longer
    with tempfile.TemporaryDirectory(prefix="tsw-") as short, socket.socket(socket.AF_UNIX) as plasma:
        root = Path(short) / "s"
        sockets = root / layout.LOCAL_RAY_SESSION / "session_1" / "sockets"
        sockets.mkdir(parents=True)
        plasma.bind(str(sockets / "plasma_store"))
        (root / layout.LOCAL_RAY_SESSION / "session_1" / "raylet.out").write_text("log")
        build_sweep(str(root), lr_trials([1.0, 0.0], [1.0, 1.0], [0.0, 0.0]))
        assert verify(str(root)).ok


def test_a_param_outside_the_search_space(sweep: str) -> None:
    params = {"training.learning_rate": 0.5, "training.per_device_batch_size": 4}
    edit_json(
        layout.join(sweep, TRIAL0, layout.RUN_MANIFEST),
        lambda d: d.update(params=params, config=resolved_config(fold_params(BASE_CONFIG, params), "mock")),
    )
    edit_json(
        layout.join(sweep, layout.SWEEP_SUMMARY),
        lambda d: d["trials"][0].update(params=params),
    )
    write_digests(sweep)
    found = problems(sweep)
    assert found[0] == (
        "trials/0/run_manifest.json: params.training.learning_rate: 0.5 is outside plan.json "
        "spec.searchSpace.training.learning_rate loguniform [0.0001, 0.01]"
    )


def test_a_param_not_in_the_search_space(sweep: str) -> None:
    edit_json(
        layout.join(sweep, TRIAL0, layout.RUN_MANIFEST),
        lambda d: d["params"].pop("training.per_device_batch_size"),
    )
    found = problems(sweep)
    assert (
        "trials/0/run_manifest.json: params.training.per_device_batch_size: missing "
        "(a dimension of plan.json spec.searchSpace)"
    ) in found


def test_the_eval_set_changed(sweep: str) -> None:
    edit_json(layout.join(sweep, layout.EVAL_SET), lambda d: d["rows"][0].update(expected="7"))
    write_digests(sweep)
    found = problems(sweep)
    problem = "rows[0] (id 'q0').expected '1' != eval_set.json rows '7'"
    assert found == [f"trials/{t}/eval_summary.json: {problem}" for t in "012"]


def test_an_eval_set_of_the_wrong_size(sweep: str) -> None:
    edit_json(layout.join(sweep, layout.EVAL_SET), lambda d: d.update(rows=d["rows"][:1]))
    write_digests(sweep)
    found = problems(sweep)
    assert found[0] == "eval_set.json: rows: 1 example != data.eval_size 2 of plan.json's base config"
    assert "trials/0/eval_summary.json: rows: 1 id not in eval_set.json rows: 'q1'" in found


def test_an_unknown_judge(sweep: str) -> None:
    edit_json(layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), lambda d: d["judge"].update(version="3"))
    assert problems(sweep)[0] == (
        "trials/0/eval_summary.json: judge: answer-exact-match version 3 is unknown to this tunesweep "
        "(it knows answer-exact-match version 1, answer-exact-match version 2, mock-surface version 1, "
        "mock-surface version 2); its rows cannot be re-judged: upgrade tunesweep or re-evaluate with a "
        "known judge"
    )


def test_evidence_of_the_version_1_judge_is_re_judged_by_its_own_rule(sweep: str) -> None:
    # Version 1 read the last ANSWER marker: an answer the model made up after its turn counted.
    def judged_by_version_1(summary: dict[str, Any]) -> None:
        row = summary["rows"][0]
        assert (row["extracted_answer"], row["metrics"]) == ("1", {"answer_correctness": 1.0})
        row["prediction"] = "ANSWER wrong<end_of_turn>\nANSWER 1"
        summary["judge"]["version"] = "1"

    edit_json(layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), judged_by_version_1)
    write_digests(sweep)
    assert verify(sweep).ok
    edit_json(layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), lambda d: d["judge"].update(version="2"))
    write_digests(sweep)
    assert problems(sweep)[:2] == [
        "trials/0/eval_summary.json: rows[0] (id 'q0').extracted_answer '1' != re-judged 'wrong'",
        "trials/0/eval_summary.json: rows[0] (id 'q0').metrics.answer_correctness 1.0 != re-judged 0.0 "
        "(prediction 'ANSWER wrong<end_of_turn>\\nANSWER 1', expected '1')",
    ]


def test_a_newer_writer_s_extra_field_is_read(sweep: str) -> None:
    edit_json(layout.join(sweep, TRIAL0, layout.RUN_MANIFEST), lambda d: d.update(gpu_hours=1.5))
    edit_json(layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), lambda d: d["rows"][0].update(latency_s=0.2))
    write_digests(sweep)
    assert verify(sweep).ok


def test_a_newer_schema_version_is_refused(sweep: str) -> None:
    edit_json(layout.join(sweep, TRIAL0, layout.RUN_MANIFEST), lambda d: d.update(schema_version=2))
    assert problems(sweep)[0] == (
        "trials/0/run_manifest.json: schema_version 2 is newer than this tunesweep reads (1); "
        "upgrade tunesweep"
    )


def test_a_signed_manifest(sweep: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "key"
    key.write_text("secret\n")
    monkeypatch.setenv("TUNESWEEP_EVIDENCE_SIGNING_KEY", str(key))
    write_digests(sweep, key=b"secret")
    assert run_evidence_cli("verify", sweep, "--signing-key", str(key)) == 0
    edit_json(layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), lambda d: d.update(mode="smoke"))
    write_digests(sweep)  # restated without the key
    assert verify(sweep, signing_key=b"secret").problems[0] == (
        "digests.json: signature: missing, but a signing key was given"
    )
    write_digests(sweep, key=b"guess")
    assert verify(sweep, signing_key=b"secret").problems[0] == (
        "digests.json: signature: does not match the signing key (files edited)"
    )


def test_a_wrong_test_row_marked_correct(sweep: str) -> None:
    """The held-out test slice is re-judged too, even with its score restated."""

    def mark_correct(summary: dict[str, Any]) -> None:
        summary["test_rows"][1]["metrics"].update(answer_correctness=1.0)
        summary.update(test_score=1.0)

    edit_json(layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), mark_correct)
    write_digests(sweep)
    assert problems(sweep) == [
        "trials/0/eval_summary.json: test_rows[1] (id 't1').metrics.answer_correctness 1.0 != re-judged 0.0 "
        "(prediction 'ANSWER wrong', expected '3')"
    ]


def test_a_test_score_restated(sweep: str) -> None:
    edit_json(layout.join(sweep, TRIAL0, layout.EVAL_SUMMARY), lambda d: d.update(test_score=1.0))
    write_digests(sweep)
    assert problems(sweep) == ["trials/0/eval_summary.json: test_score 1.0 != recomputed 0.5"]


def test_the_test_slice_changed(sweep: str) -> None:
    edit_json(layout.join(sweep, layout.EVAL_SET), lambda d: d["test_rows"][0].update(expected="9"))
    write_digests(sweep)
    problem = "test_rows[0] (id 't0').expected '2' != eval_set.json test_rows '9'"
    assert problems(sweep) == [f"trials/{t}/eval_summary.json: {problem}" for t in "012"]


def test_a_test_slice_of_the_wrong_size(sweep: str) -> None:
    edit_json(layout.join(sweep, layout.EVAL_SET), lambda d: d.update(test_rows=d["test_rows"][:1]))
    write_digests(sweep)
    found = problems(sweep)
    assert found[0] == "eval_set.json: test_rows: 1 example != data.test_size 2 of plan.json's base config"
    assert "trials/0/eval_summary.json: test_rows: 1 id not in eval_set.json test_rows: 't1'" in found


def test_a_test_slice_that_is_not_held_out(sweep: str) -> None:
    """A test row that is also an eval row: the test score would not be held out."""

    def reuse_an_eval_row(eval_set: dict[str, Any]) -> None:
        eval_set["test_rows"][1] = eval_set["rows"][1]

    edit_json(layout.join(sweep, layout.EVAL_SET), reuse_an_eval_row)
    write_digests(sweep)
    assert (
        problems(sweep)[0]
        == "eval_set.json: test_rows: ids also in rows (the test slice must be held out): 'q1'"
    )


def test_a_rung_score_where_no_rung_is(sweep: str) -> None:
    edit_metrics(sweep, "0", lambda lines: lines[0].update(rung_score=1.0))
    assert problems(sweep) == [
        "trials/0/metrics.jsonl:1: a rung_score at step 10, no rung step (no rung steps)"
    ]


@pytest.fixture
def asha_sweep(tmp_path: Path) -> str:
    """The sweep of `sweep`, with rungs at steps 5 and 10 (a rung score on the lines there)."""
    root = str(tmp_path / "asha")
    build_sweep(root, lr_trials([1.0, 0.0], [1.0, 1.0], [0.0, 0.0]), early_stopping=ASHA)
    assert verify(root).ok
    return root


def test_a_rung_score_dropped(asha_sweep: str) -> None:
    edit_metrics(asha_sweep, "0", lambda lines: lines[0].pop("rung_score"))
    assert problems(asha_sweep) == [
        "trials/0/metrics.jsonl:1: no rung_score at step 5, a rung step (rung steps [5, 10])",
        "rung_decisions.json: decisions[0] (trial 0, step 5): score 0.5 != the trial's metrics.jsonl "
        "rung_score None",
    ]


def test_a_rung_report_dropped(asha_sweep: str) -> None:
    edit_metrics(asha_sweep, "0", lambda lines: lines.pop(0))
    assert problems(asha_sweep)[0] == (
        "trials/0/metrics.jsonl:1: step 10 != expected 5 (training.report_every_steps 10, "
        "training.max_steps 20 of run_manifest.json config; rung steps [5, 10])"
    )


def test_a_rung_score_outside_0_to_1(asha_sweep: str) -> None:
    edit_metrics(asha_sweep, "0", lambda lines: lines[0].update(rung_score=1.5))
    assert (
        problems(asha_sweep)[0]
        == "trials/0/metrics.jsonl:1: rung_score: 1.5 is greater than the maximum of 1.0"
    )


def test_a_rung_decision_rewritten(asha_sweep: str) -> None:
    edit_json(layout.join(asha_sweep, layout.RUNG_DECISIONS), lambda d: d["decisions"][1].update(cut=True))
    write_digests(asha_sweep)
    assert problems(asha_sweep) == [
        "rung_decisions.json: decisions[1] (trial 0, step 10): recorded cutoff none over 0, cut, "
        "the rule gives cutoff none over 0, went on",
        "rung_decisions.json: trial 0: cut at rung step 10, yet its status is succeeded",
    ]


def test_the_rung_decisions_removed(asha_sweep: str) -> None:
    (Path(asha_sweep) / layout.RUNG_DECISIONS).unlink()
    write_digests(asha_sweep)
    assert problems(asha_sweep) == [
        "rung_decisions.json: missing (trial 0 scored a rung before its last step: the scheduler decided)"
    ]


def test_a_plan_written_before_the_search_was_planned_derives_its_rungs(asha_sweep: str) -> None:
    edit_json(layout.join(asha_sweep, layout.PLAN), lambda d: d.pop("search"))
    write_digests(asha_sweep)
    assert verify(asha_sweep).ok
    edit_metrics(asha_sweep, "0", lambda lines: lines[1].pop("rung_score"))
    assert problems(asha_sweep) == [
        "trials/0/metrics.jsonl:2: no rung_score at step 10, a rung step (rung steps [5, 10])",
        "rung_decisions.json: decisions[1] (trial 0, step 10): score 0.5 != the trial's metrics.jsonl "
        "rung_score None",
    ]


def test_the_promoted_test_score_restated(sweep: str) -> None:
    edit_json(layout.join(sweep, layout.BEST_PARAMS), lambda d: d.update(test_score=0.5))
    edit_json(layout.join(sweep, layout.SWEEP_SUMMARY), lambda d: d["best_trial"].update(test_score=0.5))
    write_digests(sweep)
    assert problems(sweep) == [
        "sweep_summary.json: best_trial.test_score 0.5 != recomputed 1.0",
        "promoted/best_params.json: test_score 0.5 != recomputed 1.0",
    ]
