"""`tunesweep evidence verify`: re-derive everything a sweep's evidence claims, and name each mismatch.

For a sweep folder: every file validates against its schema; every primary score recomputed from
the evaluation rows matches eval_summary.json and sweep_summary.json; the best trial recomputed
from the trials matches sweep_summary.json and promoted/best_params.json; and
promoted/best_config.yaml equals the base config from plan.json with the best params folded in.
A single trial folder (run_manifest.json + eval_summary.json) is checked on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel

from . import layout
from .documents import BestParams, MetricsLine, Plan, SweepSummary
from .promotion import fold_params, resolved_config
from .schemas import schema_problems
from .selection import best_trial
from .sweep_evidence import (
    EvidenceReader,
    SweepSettings,
    TrialEvidence,
    format_score,
    load_trial,
    load_trials,
    same_score,
    sweep_settings,
)


@dataclass(frozen=True)
class VerifyReport:
    root: str
    problems: list[str]
    summary: str
    """One line describing what was checked."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(root: str) -> VerifyReport:
    reader = EvidenceReader(root)
    if reader.exists(layout.PLAN) or reader.exists("trials"):
        summary = _verify_sweep(reader)
    elif reader.exists(layout.RUN_MANIFEST):
        summary = _verify_trial_folder(reader)
    else:
        reader.problem(
            root, "no evidence here: expected plan.json and trials/ (a sweep) or run_manifest.json (a trial)"
        )
        summary = "nothing checked"
    return VerifyReport(reader.root, reader.problems, summary)


def _verify_trial_folder(reader: EvidenceReader) -> str:
    trial_id = reader.root.rsplit("/", 1)[-1]
    trial = load_trial(reader, "", trial_id, sweep_uid=None)
    reader.lines(layout.METRICS, MetricsLine)
    score = format_score(trial.primary_score) if trial else "unknown"
    return f"trial {trial_id}: primary_score {score}; {reader.files_read} files checked"


def _verify_sweep(reader: EvidenceReader) -> str:
    plan = reader.document(layout.PLAN, Plan)
    settings = sweep_settings(plan, reader) if plan is not None else None
    trials = load_trials(reader, plan.sweep.uid if plan is not None else None)
    for trial in trials:
        reader.lines(f"trials/{trial.trial_id}/{layout.METRICS}", MetricsLine)
    best = None
    if settings is not None:
        best = best_trial(trials, settings.objective.mode, allow_unscored=settings.allow_unscored)
    by_id = {trial.trial_id: trial for trial in trials}
    summary = reader.document(layout.SWEEP_SUMMARY, SweepSummary)
    if summary is not None:
        _check_sweep_summary(reader, summary, plan, settings, by_id, best)
    if reader.exists(layout.BEST_PARAMS) or reader.exists(layout.BEST_CONFIG):
        _check_promoted(reader, plan, settings, best)
    scored = sum(trial.primary_score is not None for trial in trials)
    best_text = (
        f"best trial {best.trial_id} primary_score {format_score(best.primary_score)}"
        if best
        else "no best trial"
    )
    return f"{len(trials)} trials ({scored} scored), {best_text}; {reader.files_read} files checked"


def _check_sweep_summary(
    reader: EvidenceReader,
    summary: SweepSummary,
    plan: Plan | None,
    settings: SweepSettings | None,
    trials: Mapping[str, TrialEvidence],
    best: TrialEvidence | None,
) -> None:
    where = layout.SWEEP_SUMMARY
    if plan is not None and summary.sweep != plan.sweep:
        reader.problem(where, f"sweep {summary.sweep.model_dump()} != plan.json {plan.sweep.model_dump()}")
    if settings is not None:
        if summary.mode != settings.mode:
            reader.problem(where, f"mode {summary.mode} != plan.json {settings.mode}")
        if summary.objective != settings.objective:
            reader.problem(
                where,
                f"objective {summary.objective.model_dump()} != plan.json {settings.objective.model_dump()}",
            )
    recorded = set()
    for index, record in enumerate(summary.trials):
        recorded.add(record.trial_id)
        trial = trials.get(record.trial_id)
        label = f"trials[{index}] (trial {record.trial_id})"
        if trial is None:
            reader.problem(where, f"{label} has no valid evidence under trials/{record.trial_id}/")
        elif not same_score(record.primary_score, trial.primary_score):
            reader.problem(
                where,
                f"{label} primary_score {format_score(record.primary_score)} "
                f"!= recomputed {format_score(trial.primary_score)}",
            )
    if summary.status != "running":
        for trial_id in sorted(set(trials) - recorded):
            reader.problem(where, f"trial {trial_id} has evidence but no record in trials[]")
    if settings is None or (summary.best_trial is None and summary.status != "succeeded"):
        return
    claimed = summary.best_trial
    if claimed is None and best is None:
        return  # a smoke sweep with nothing scored: no best trial on either side
    if claimed is None or best is None or claimed.trial_id != best.trial_id:
        claimed_id = claimed.trial_id if claimed else "null"
        reader.problem(where, f"best_trial {claimed_id} != recomputed {best.trial_id if best else 'null'}")
    elif not same_score(claimed.primary_score, best.primary_score):
        reader.problem(
            where,
            f"best_trial.primary_score {format_score(claimed.primary_score)} "
            f"!= recomputed {format_score(best.primary_score)}",
        )
    elif claimed.params != best.manifest.params:
        reader.problem(
            where, f"best_trial.params {claimed.params} != trial {best.trial_id}'s {best.manifest.params}"
        )


def _check_promoted(
    reader: EvidenceReader, plan: Plan | None, settings: SweepSettings | None, best: TrialEvidence | None
) -> None:
    best_params = reader.document(layout.BEST_PARAMS, BestParams)
    config_text = _read_best_config(reader)
    if settings is None or plan is None:
        return  # plan.json's own problems are already reported; nothing to compare against
    if best is None:
        reader.problem(layout.BEST_PARAMS, "a promotion exists but no trial is eligible to be the best")
        return
    if best_params is not None:
        _check_best_params(reader, best_params, plan, settings, best)
    if config_text is not None:
        _check_best_config(reader, config_text, settings, best)


def _check_best_params(
    reader: EvidenceReader, record: BestParams, plan: Plan, settings: SweepSettings, best: TrialEvidence
) -> None:
    where = layout.BEST_PARAMS
    if record.trial_id != best.trial_id:
        reader.problem(where, f"trial_id {record.trial_id} != recomputed best {best.trial_id}")
        return
    if not same_score(record.primary_score, best.primary_score):
        claimed_score = format_score(record.primary_score)
        reader.problem(
            where, f"primary_score {claimed_score} != recomputed {format_score(best.primary_score)}"
        )
    expected = {
        "params": best.manifest.params,
        "run_id": best.manifest.run_id,
        "sweep": plan.sweep,
        "mode": settings.mode,
        "objective": settings.objective,
        "evidence_uri": plan.evidence_uri,
    }
    for name, value in expected.items():
        if getattr(record, name) != value:
            reader.problem(where, f"{name} {_show(getattr(record, name))} != expected {_show(value)}")


def _read_best_config(reader: EvidenceReader) -> Any:
    where = layout.BEST_CONFIG
    text = reader.text(where)
    if text is None:
        reader.problem(where, "missing")
        return None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        reader.problem(where, f"not YAML: {error}")
        return None
    problems = schema_problems(config, "best_config.schema.json")
    for problem in problems:
        reader.problem(where, problem)
    return None if problems else config


def _check_best_config(
    reader: EvidenceReader, config: Any, settings: SweepSettings, best: TrialEvidence
) -> None:
    where = layout.BEST_CONFIG
    try:
        expected = _flat(resolved_config(fold_params(settings.base_config, best.manifest.params)))
    except ValueError as error:  # a ConfigFoldError or the TrainingConfig's ValidationError
        reader.problem(where, f"cannot fold trial {best.trial_id}'s params into the base config: {error}")
        return
    actual = _flat(config)
    for path in sorted(expected.keys() | actual.keys()):
        if path not in actual:
            reader.problem(where, f"{path} missing, expected {expected[path]!r}")
        elif path not in expected:
            reader.problem(where, f"{path} {actual[path]!r} not expected")
        elif actual[path] != expected[path]:
            reader.problem(where, f"{path} {actual[path]!r} != expected {expected[path]!r}")


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _show(value: Any) -> str:
    return repr(value.model_dump() if isinstance(value, BaseModel) else value)
