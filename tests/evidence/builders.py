"""Writes a consistent sweep evidence tree (plan, eval set, trials, summary, promotion, digests)
through the real bucket API, as the trainer and the driver would: judged rows, scheduled metrics.

Tests tamper with what it writes to check that verify and promotion notice.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.commands import evidence
from tunesweep_evidence.digests import write_digests
from tunesweep_evidence.documents import (
    AcceleratorInfo,
    BestTrialRecord,
    EvalRow,
    EvalSummary,
    HostInfo,
    MetricsLine,
    ObjectiveRecord,
    Plan,
    RungScore,
    RunManifest,
    SweepRef,
    SweepSummary,
    TrialRecord,
)
from tunesweep_evidence.eval_set import build_eval_set
from tunesweep_evidence.judge import JUDGE, eval_row
from tunesweep_evidence.primary_score import primary_score
from tunesweep_evidence.promotion import promote
from tunesweep_evidence.rungs import RungLadder
from tunesweep_evidence.schedule import learning_rate_at
from tunesweep_evidence.search_plan import search_plan
from tunesweep_evidence.selection import best_trial
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_evidence.training_config import DataConfig, TrainingConfig
from tunesweep_evidence.trial_config import fold_params, resolved_config

SWEEP = SweepRef(name="lr-sweep", namespace="team-a", uid="0b7c6f1e-uid")
BASE_CONFIG: dict[str, Any] = {
    "model": {"name": "tiny", "max_length": 64},
    "training": {
        "learning_rate": 1.0e-3,
        "per_device_batch_size": 8,
        "max_steps": 20,
        "warmup_steps": 5,
        "report_every_steps": 10,
        "seed": 0,
    },
    "data": {
        "train": "builtin:arithmetic",
        "eval": "builtin:arithmetic",
        "eval_size": 2,
        "test_size": 2,
        "rung_size": 2,
    },
}
SEARCH_SPACE: dict[str, Any] = {
    "training.learning_rate": {"loguniform": [1e-4, 1e-2]},
    "training.per_device_batch_size": {"choice": [4, 8]},
}
PROMOTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass
class TrialSpec:
    params: dict[str, Any]
    correctness: Sequence[float] | None
    """answer_correctness per eval row; None writes no eval_summary.json."""
    test_correctness: Sequence[float] | None = None
    """answer_correctness per test row; None: the same as `correctness`."""
    status: str = "succeeded"
    finished_at: str | None = "2026-01-01T00:10:00+00:00"
    rows: list[dict[str, Any]] | None = field(default=None)
    """Raw eval rows, instead of rows built from `correctness`."""
    started_at: str | None = "2026-01-01T00:01:00+00:00"


def lr_trials(*scores: Sequence[float] | None) -> dict[str, TrialSpec]:
    """Trials "0", "1", ... each with its own learning rate and per-row correctness, finishing in order."""
    return {
        str(i): TrialSpec(
            params={"training.learning_rate": 1e-3 * (i + 1), "training.per_device_batch_size": 4},
            correctness=correctness,
            finished_at=f"2026-01-01T00:{10 + i:02d}:00+00:00",
        )
        for i, correctness in enumerate(scores)
    }


ASHA = {"name": "asha", "gracePeriod": 5, "reductionFactor": 2}
"""Early stopping with rungs at steps 5 and 10 (max_steps 20): one between reports, one on a report."""


def spec(
    root: str,
    *,
    mode: str = "production",
    min_score: float | None = None,
    early_stopping: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "mode": mode,
        "trainer": {"backend": "mock", "image": "trainer:test", "baseConfig": BASE_CONFIG},
        "searchSpace": SEARCH_SPACE,
        "objective": {"metric": "primary_score", "mode": "max"},
        "earlyStopping": dict(early_stopping or {"name": "none"}),
        "trials": {"count": 3, "parallel": 1},
        # The spec takes URIs only; tests write to plain temporary paths or s3:// buckets.
        "evidence": {"uri": root if "://" in root else f"file://{root}"},
        "promotion": {"minScore": min_score},
    }


def write_plan(root: str, **spec_options: Any) -> Plan:
    """plan.json as the operator or `tunesweep run` freezes it, its search planned."""
    planned = spec(root, **spec_options)
    plan = Plan(
        sweep=SWEEP,
        spec=planned,
        evidence_uri=root,
        image="trainer:test",
        created_at="2026-01-01T00:00:00+00:00",
        search=search_plan(TuningSweepSpec.model_validate(planned)),
    )
    bucket.write_document(layout.join(root, layout.PLAN), plan)
    return plan


def eval_examples(count: int) -> list[tuple[str, str, str]]:
    """(id, prompt, expected) of the builders' eval set."""
    return [(f"q{i}", f"Q: {i}+1=?", str(i + 1)) for i in range(count)]


def test_examples(count: int) -> list[tuple[str, str, str]]:
    """(id, prompt, expected) of the builders' held-out test slice."""
    return [(f"t{i}", f"Q: {i}+2=?", str(i + 2)) for i in range(count)]


def write_eval_set(root: str) -> None:
    """eval_set.json as the sweep driver records it from the base config."""
    data = DataConfig.model_validate(BASE_CONFIG["data"])
    eval_set = build_eval_set("mock", data, eval_examples(data.eval_size), test_examples(data.test_size))
    bucket.write_document(layout.join(root, layout.EVAL_SET), eval_set)


def metrics_lines(config: dict[str, Any], rung_steps: Sequence[int]) -> list[MetricsLine]:
    """metrics.jsonl as a trainer reports it: every report_every_steps, at each rung step (with the
    rung slice's score) and at max_steps."""
    training = TrainingConfig.model_validate(config).training
    last = training.max_steps
    steps = {*range(training.report_every_steps, last, training.report_every_steps), last}
    return [
        MetricsLine(
            step=step,
            loss=1.0 / step,
            learning_rate=learning_rate_at(step - 1, training.learning_rate, training.warmup_steps, last),
            elapsed_s=0.1 * step,
            rung_score=0.5 if step in rung_steps else None,
        )
        for step in sorted(steps | {step for step in rung_steps if step <= last})
    ]


def write_trial(
    root: str, trial_id: str, trial: TrialSpec, *, rung_steps: Sequence[int] = (), mode: str = "production"
) -> EvalSummary | None:
    """Write one trial's evidence; returns its eval_summary.json (None when it wrote none)."""
    folder = layout.trial_dir(root, trial_id)
    run_id = f"run-{trial_id}"
    config = resolved_config(fold_params(BASE_CONFIG, trial.params), "mock")
    manifest = RunManifest(
        run_id=run_id,
        tuning_job_id=SWEEP.uid,
        trial_id=trial_id,
        backend="mock",
        params=trial.params,
        config=config,
        seed=0,
        image="trainer:test",
        host=HostInfo(hostname="node-1", python="3.11", accelerator=AcceleratorInfo(platform="cpu")),
        status=trial.status,
        started_at=trial.started_at or "2026-01-01T00:01:00+00:00",
        finished_at=trial.finished_at,
    )
    bucket.write_document(layout.join(folder, layout.RUN_MANIFEST), manifest)
    bucket.write_jsonl(layout.join(folder, layout.METRICS), metrics_lines(config, rung_steps))
    if trial.correctness is None and trial.rows is None:
        return None
    rows = (
        [EvalRow.model_validate(row) for row in trial.rows]
        if trial.rows is not None
        else _rows(eval_examples, trial.correctness)
    )
    test_correctness = trial.correctness if trial.test_correctness is None else trial.test_correctness
    test_rows = _rows(test_examples, test_correctness)
    score = primary_score(rows)
    summary = EvalSummary(
        run_id=run_id,
        trial_id=trial_id,
        mode=mode,
        backend="mock",
        primary_score=score,
        n_examples=len(rows),
        judge=JUDGE,
        rows=rows,
        test_score=primary_score(test_rows),
        test_rows=test_rows,
    )
    bucket.write_document(layout.join(folder, layout.EVAL_SUMMARY), summary)
    return summary


def _rows(
    examples: Callable[[int], list[tuple[str, str, str]]], correctness: Sequence[float] | None
) -> list[EvalRow]:
    """Rows of `examples` the exact-match judge scored: right answers where `correctness` says 1.0.
    (A fractional value is kept as given, for promotion tests; the judge never writes one.)"""
    correctness = list(correctness or ())
    rows = []
    for (row_id, prompt, expected), value in zip(examples(len(correctness)), correctness, strict=True):
        row = eval_row(row_id, prompt, expected, f"ANSWER {expected if value == 1.0 else 'wrong'}")
        rows.append(row.model_copy(update={"metrics": {"answer_correctness": value}}))
    return rows


@dataclass(frozen=True)
class BuiltSweep:
    root: str
    plan: Plan
    scores: dict[str, float | None]
    best_trial_id: str | None


def write_rung_decisions(root: str, plan: Plan, trials: Mapping[str, TrialSpec]) -> None:
    """rung_decisions.json as the scheduler takes them, trial after trial (a rung at a trial's
    last step: finished there, never cut)."""
    assert plan.search is not None
    spec = TuningSweepSpec.model_validate(plan.spec)
    ladder = RungLadder(plan.search.rung_steps, spec.early_stopping.reduction_factor)
    for trial_id, trial in trials.items():
        config = fold_params(BASE_CONFIG, trial.params)
        for line in metrics_lines(config, plan.search.rung_steps):
            if line.rung_score is not None:
                finished = line.step == config["training"]["max_steps"]
                ladder.record(trial_id, line.step, line.rung_score, finished=finished)
    bucket.write_document(layout.join(root, layout.RUNG_DECISIONS), ladder.document())


def build_sweep(
    root: str,
    trials: Mapping[str, TrialSpec],
    *,
    mode: str = "production",
    min_score: float | None = None,
    early_stopping: Mapping[str, Any] | None = None,
    promote_best: bool = True,
) -> BuiltSweep:
    """A finished sweep: plan, each trial, sweep_summary.json and (optionally) the promotion."""
    plan = write_plan(root, mode=mode, min_score=min_score, early_stopping=early_stopping)
    assert plan.search is not None
    rungs = plan.search.rung_steps
    write_eval_set(root)
    evaluations = {
        trial_id: write_trial(root, trial_id, trial, rung_steps=rungs, mode=mode)
        for trial_id, trial in trials.items()
    }
    scores = {trial_id: e.primary_score if e else None for trial_id, e in evaluations.items()}
    if rungs:
        write_rung_decisions(root, plan, trials)
    records = []
    for trial_id, trial in trials.items():
        lines = metrics_lines(fold_params(BASE_CONFIG, trial.params), rungs)
        records.append(
            TrialRecord(
                trial_id=trial_id,
                status=trial.status,
                params=trial.params,
                primary_score=scores[trial_id],
                iterations=len(lines),
                started_at=trial.started_at,
                finished_at=trial.finished_at,
                rung_scores=[
                    RungScore(step=line.step, score=line.rung_score)
                    for line in lines
                    if line.rung_score is not None
                ],
            )
        )
    best = best_trial(records, "max", allow_unscored=mode == "smoke" and min_score is None)
    best_record = None
    if promote_best:
        best_record = promote(root, now=PROMOTED_AT).best_trial_record
    elif best is not None:
        evaluation = evaluations[best.trial_id]
        best_record = BestTrialRecord(
            trial_id=best.trial_id,
            params=best.params,
            primary_score=best.primary_score,
            test_score=evaluation.test_score if evaluation else None,
        )
    summary = SweepSummary(
        sweep=SWEEP,
        mode=mode,
        objective=ObjectiveRecord(metric="primary_score", mode="max"),
        status="succeeded",
        trials=records,
        best_trial=best_record,
        promoted_by="driver" if promote_best else "operator",
        updated_at="2026-01-01T01:00:00+00:00",
    )
    bucket.write_document(layout.join(root, layout.SWEEP_SUMMARY), summary)
    if promote_best:  # as the local driver does: the digests again, over the final summary
        write_digests(root)
    return BuiltSweep(root, plan, scores, best.trial_id if best else None)


def edit_json(uri: str, change: Any) -> None:
    """Tamper with a JSON document behind the writers' back: `change(data)` edits it in place."""
    data = bucket.read_json(uri)
    change(data)
    bucket.write_text(uri, json.dumps(data, indent=2))


def run_evidence_cli(*argv: str) -> int:
    """`tunesweep evidence ARGV...` through the command's own parser (the other commands are not needed)."""
    parser = argparse.ArgumentParser(prog="tunesweep")
    evidence.add_parser(parser.add_subparsers())
    args = parser.parse_args(["evidence", *argv])
    return int(args.func(args))
