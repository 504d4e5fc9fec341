"""The warm start before the first trial (`sweep/warm_start.py`), on sources built by the evidence
tests' builders (no Ray): a verified, compatible source gives its scored trials as points; a
tampered or incompatible one refuses the sweep, naming what differs; points outside this sweep's
search space are skipped and counted. Local mode's name resolution too."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import EvalSet, SkippedPoint
from tunesweep_evidence.judge import MOCK_JUDGE
from tunesweep_evidence.spec import TuningSweep
from tunesweep_evidence.sweep_evidence import EvidenceReader, load_trials
from tunesweep_evidence.warm_start import INCOMPATIBLE, UNRESOLVED, UNVERIFIED, WarmStartError, resolved
from tunesweep_trainer.sweep import plan as plans
from tunesweep_trainer.sweep.driver import EXIT_INVALID, drive
from tunesweep_trainer.sweep.local import plan_for, warm_start_folder
from tunesweep_trainer.sweep.warm_start import WarmStart, warm_start

from tests.evidence.builders import SWEEP, build_sweep, edit_json, lr_trials, spec
from tests.sweep.sweeps import by_uri_only

SOURCE_SCORES = ([1.0, 0.0], [1.0, 1.0], [0.0, 0.0], None)
"""Trials 0..3 at learning rates 1e-3..4e-3: scores 0.5, 1.0 and 0.0, and one that failed."""


def source_trials() -> dict[str, Any]:
    trials = lr_trials(*SOURCE_SCORES)
    trials["3"].status = "failed"
    return trials


def build_source(root: Path) -> str:
    """A verified mock sweep, judged as the mock trainer judges (the builders' rows are exact-match)."""
    uri = str(root)
    build_sweep(uri, source_trials(), promote_best=False)
    for trial_id in bucket.list_dir(layout.join(uri, "trials")):
        summary = layout.join(uri, f"trials/{trial_id}", layout.EVAL_SUMMARY)
        if bucket.exists(summary):
            edit_json(summary, lambda d: d.update(judge=MOCK_JUDGE.model_dump()))
    return uri


@pytest.fixture
def source(tmp_path: Path) -> str:
    return build_source(tmp_path / "source")


def this_sweep(
    tmp_path: Path, source: str, *, base_config: dict[str, Any] | None = None, **spec_fields: Any
) -> tuple[Any, Any, EvalSet]:
    """A tpe sweep warm-started from `source`, otherwise the source's spec: its plan, spec, eval set."""
    wanted = spec(str(tmp_path / "this")) | {"algorithm": {"name": "tpe", "seed": 3}} | spec_fields
    wanted["warmStart"] = [{"evidenceURI": f"file://{source}"}]
    if base_config is not None:
        wanted["trainer"] = wanted["trainer"] | {"baseConfig": base_config}
    sweep = TuningSweep.model_validate({"metadata": {"name": "warm"}, "spec": wanted})
    plan = plans.freeze(
        sweep,
        uid="warm-uid",
        namespace="tests",
        evidence_uri=str(tmp_path / "this"),
        warm_start=resolved(sweep.spec, by_uri_only),
    )
    eval_set = bucket.read_document(layout.join(source, layout.EVAL_SET), EvalSet)
    return plan, sweep.spec, eval_set


def refusal(tmp_path: Path, source: str, **options: Any) -> WarmStartError:
    with pytest.raises(WarmStartError) as refused:
        warm_start(*this_sweep(tmp_path, source, **options))
    return refused.value


def test_a_verified_source_seeds_its_scored_trials_with_recomputed_scores(
    tmp_path: Path, source: str
) -> None:
    result = warm_start(*this_sweep(tmp_path, source))

    (record,) = result.records
    assert record.source == "spec.warmStart[0].evidenceURI"
    assert record.evidence_uri == f"file://{source}"
    recomputed = {t.trial_id: t.primary_score for t in load_trials(EvidenceReader(source), SWEEP.uid)}
    assert [(p.trial_id, p.primary_score) for p in record.seeded] == [
        ("0", recomputed["0"]),
        ("1", recomputed["1"]),
        ("2", recomputed["2"]),
    ]
    assert [p.primary_score for p in record.seeded] == [0.5, 1.0, 0.0]
    assert record.seeded[1].params == {"training.learning_rate": 2e-3, "training.per_device_batch_size": 4}
    assert record.skipped == [SkippedPoint(trial_id="3", reason="not scored (status failed)")]
    assert result.searcher_points() == ([p.params for p in record.seeded], [0.5, 1.0, 0.0])


def test_the_stored_summary_is_never_the_score(tmp_path: Path, source: str) -> None:
    # A summary claiming another score than the rows give is a verify problem: the sweep is refused.
    edit_json(layout.join(source, "trials/2", layout.EVAL_SUMMARY), lambda d: d.update(primary_score=1.0))
    refused = refusal(tmp_path, source)
    assert refused.code == UNVERIFIED
    assert str(refused).startswith(
        f"{UNVERIFIED}: file://{source}: trials/2/eval_summary.json: primary_score 1.0"
    )


def test_tampered_rows_refuse_the_sweep_before_anything_runs(tmp_path: Path, source: str) -> None:
    # A row's verdict flipped, the scores restated to match: the judge disagrees with the row.
    uri = layout.join(source, "trials/0", layout.EVAL_SUMMARY)
    data = bucket.read_json(uri)
    data["rows"][1]["metrics"]["answer_correctness"] = 1.0
    data["primary_score"] = 1.0
    bucket.write_text(uri, json.dumps(data))
    edit_json(
        layout.join(source, layout.SWEEP_SUMMARY),
        lambda d: [t.update(primary_score=1.0) for t in d["trials"] if t["trial_id"] == "0"],
    )
    refused = refusal(tmp_path, source)
    assert refused.code == UNVERIFIED and "trials/0/eval_summary.json: rows[1]" in str(refused)
    assert not (tmp_path / "this").exists()


def test_another_eval_set_is_incompatible(tmp_path: Path, source: str) -> None:
    plan, sweep_spec, eval_set = this_sweep(tmp_path, source)
    other = eval_set.model_copy(
        update={"rows": [row.model_copy(update={"expected": "42"}) for row in eval_set.rows]}
    )
    with pytest.raises(WarmStartError) as refused:
        warm_start(plan, sweep_spec, other)
    assert refused.value.code == INCOMPATIBLE
    assert f"file://{source}: eval_set.json rows: the source's eval examples" in str(refused.value)


def test_another_judge_is_incompatible(tmp_path: Path) -> None:
    uri = str(tmp_path / "exact-match")
    build_sweep(uri, source_trials(), promote_best=False)  # judged answer-exact-match
    refused = refusal(tmp_path, uri)
    assert refused.code == INCOMPATIBLE
    assert "judge answer-exact-match version 2 != this sweep's mock-surface version 2" in str(refused)


def test_another_base_config_is_incompatible_naming_the_path(tmp_path: Path, source: str) -> None:
    _, sweep_spec, _ = this_sweep(tmp_path, source)
    base = copy.deepcopy(sweep_spec.trainer.base_config)
    base["training"]["max_steps"] = 30
    refused = refusal(tmp_path, source, base_config=base)
    assert refused.code == INCOMPATIBLE
    assert "trainer.baseConfig.training.max_steps: the source's 20 != this sweep's 30" in str(refused)


def test_a_searched_path_the_sweep_does_not_search_is_incompatible(tmp_path: Path, source: str) -> None:
    refused = refusal(tmp_path, source, searchSpace={"training.learning_rate": {"loguniform": [1e-4, 1e-2]}})
    assert refused.code == INCOMPATIBLE
    assert 'searchSpace["training.per_device_batch_size"]: searched by the source, not by this sweep' in str(
        refused
    )


def test_points_outside_the_search_space_are_skipped_and_counted(tmp_path: Path, source: str) -> None:
    narrower = {
        "training.learning_rate": {"loguniform": [1.5e-3, 1e-2]},
        "training.per_device_batch_size": {"choice": [4, 8]},
        "training.warmup_steps": {"randint": [0, 10]},  # not searched by the source: its config's 5
    }
    (record,) = warm_start(*this_sweep(tmp_path, source, searchSpace=narrower)).records

    assert [p.trial_id for p in record.seeded] == ["1", "2"]
    assert record.seeded[0].params == {
        "training.learning_rate": 2e-3,
        "training.per_device_batch_size": 4,
        "training.warmup_steps": 5,
    }
    (outside, unscored) = record.skipped
    assert outside.trial_id == "0"
    assert outside.reason.startswith("outside this sweep's searchSpace: params.training.learning_rate: 0.001")
    assert unscored.trial_id == "3"


def test_a_plan_without_its_sources_resolved_is_refused(tmp_path: Path, source: str) -> None:
    plan, sweep_spec, eval_set = this_sweep(tmp_path, source)
    with pytest.raises(WarmStartError) as refused:
        warm_start(plan.model_copy(update={"warm_start": []}), sweep_spec, eval_set)
    assert refused.value.code == UNRESOLVED
    assert "plan.json resolves 0 warm-start sources, its spec.warmStart names 1" in str(refused.value)


def test_no_warm_start_is_no_points(tmp_path: Path, source: str) -> None:
    plan, sweep_spec, eval_set = this_sweep(tmp_path, source)
    cold = sweep_spec.model_copy(update={"warm_start": None})
    assert warm_start(plan.model_copy(update={"warm_start": []}), cold, eval_set) == WarmStart([])


# ---- local mode: a sweep name is the folder `tunesweep run` uses for it ----


def local_sweep(evidence_uri: str, warm: list[dict[str, str]]) -> TuningSweep:
    wanted = spec("/unused") | {"algorithm": {"name": "tpe"}, "warmStart": warm}
    wanted["evidence"] = {"uri": evidence_uri}
    return TuningSweep.model_validate({"metadata": {"name": "warm"}, "spec": wanted})


def test_local_mode_finds_a_named_sweep_below_the_evidence_uri(tmp_path: Path) -> None:
    earlier = tmp_path / "evidence" / "local" / "earlier"
    build_source(earlier)
    sweep = local_sweep(
        f"file://{tmp_path}/evidence", [{"sweep": "earlier"}, {"evidenceURI": "s3://bucket/x"}]
    )

    plan, resumed = plan_for(sweep, str(tmp_path / "out"))

    assert not resumed
    assert [(ref.source, ref.evidence_uri) for ref in plan.warm_start] == [
        ("spec.warmStart[0].sweep earlier", str(earlier)),
        ("spec.warmStart[1].evidenceURI", "s3://bucket/x"),
    ]
    assert plans.read(str(tmp_path / "out")).warm_start == plan.warm_start  # frozen: no Kubernetes needed


def test_local_mode_without_evidence_uri_looks_in_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    build_source(tmp_path / "runs" / "earlier")
    sweep = local_sweep("", [{"sweep": "earlier"}])
    assert warm_start_folder(sweep, "spec.warmStart[0].sweep", "earlier") == str(
        tmp_path / "runs" / "earlier"
    )


def test_local_mode_names_the_field_when_the_named_sweep_never_ran(tmp_path: Path) -> None:
    sweep = local_sweep(
        f"file://{tmp_path}/evidence", [{"evidenceURI": "s3://bucket/x"}, {"sweep": "never-ran"}]
    )
    with pytest.raises(WarmStartError) as refused:
        plan_for(sweep, str(tmp_path / "out"))
    message = str(refused.value)
    assert message.startswith(f"{UNRESOLVED}: spec.warmStart[1].sweep never-ran: no sweep evidence at ")
    assert "or name its folder in spec.warmStart[1].evidenceURI instead" in message
    assert not (tmp_path / "out").exists()


def test_the_driver_fails_the_sweep_with_the_reason_and_runs_nothing(tmp_path: Path, source: str) -> None:
    edit_json(layout.join(source, "trials/1", layout.EVAL_SUMMARY), lambda d: d.update(primary_score=0.25))
    plan, _, _ = this_sweep(tmp_path, source)
    plans.write(plan)

    result = drive(plan)  # refused before Ray Tune is asked for anything

    assert result.exit_code == EXIT_INVALID and result.summary is not None
    assert result.summary.status == "failed"
    assert result.summary.reason.startswith(
        f"{UNVERIFIED}: file://{source}: trials/1/eval_summary.json: primary_score 0.25 != recomputed 1.0"
    )
    assert result.summary.trials == [] and result.summary.warm_start == []
    assert not (tmp_path / "this" / "trials").exists()
