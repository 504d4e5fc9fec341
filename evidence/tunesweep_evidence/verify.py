"""`tunesweep evidence verify`: re-derive everything a sweep's evidence claims, and name each mismatch.

For a sweep folder, from the rawest evidence up:
- every file validates against its schema, and every file the sweep's state needs is there
  (plan.json; each recorded trial's files for its status; all of a promotion once any of it is);
- every evaluation row, of the eval set and of the held-out test slice, is judged again by the
  judge that wrote it (`judge.py`), every trial was evaluated on the sweep's eval set and test
  slice (`eval_set.json`, `eval_set.py`), and every primary and test score is recomputed from the
  rows and matches eval_summary.json and sweep_summary.json;
- every trial's config is plan.json's base config with its params folded in, its params lie in
  the search space, and its metrics.jsonl reports the steps and learning rates that config gives,
  with a rung score at each of the plan's rung steps and nowhere else (`trial_checks.py`);
- every decision of the rung scheduler (rung_decisions.json) follows from the rung scores before
  it, each score is the trial's own, and each cut trial ended early_stopped (`rungs.py`);
- the best trial recomputed from the trials matches sweep_summary.json and
  promoted/best_params.json (its primary and test scores too), and promoted/best_config.yaml is
  the base config with its params;
- with spec.budget, each trial's cost is the budget's rate times its held interval, which contains
  its run_manifest's start..end, and the spend is their sum (`budget.py`);
- no file changed, vanished or appeared after the promotion (`digests.json`, `digests.py`).
A single trial folder (run_manifest.json + eval_summary.json) is checked on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from . import bucket, layout, trial_checkpoints
from .budget import summary_problems as budget_problems
from .digests import digest_problems
from .documents import (
    BestParams,
    BestTrialRecord,
    Digests,
    EvalSet,
    MetricsLine,
    Plan,
    RungDecisions,
    RunManifest,
    SweepSummary,
    TrialRecord,
)
from .eval_set import evaluation_problems, size_problems
from .judge import rejudged_problems
from .lineage import config_at, lineage_problems
from .promotion import best_config_problems
from .rungs import decision_problems
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
from .training_config import CustomTraining, DataConfig, TrainingSection, config_model
from .trial_checks import metrics_problems, search_space_problems
from .trial_config import config_differences, fold_params, manifest_config_problems, resolved_config
from .warm_start import seeded_problems
from .wording import counted

PROMOTED_IS_PART = f"{layout.PROMOTED}/ is part of this sweep, so all of it was checked"


@dataclass(frozen=True)
class VerifyReport:
    root: str
    problems: list[str]
    summary: str
    """One line describing what was checked."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(root: str, *, signing_key: bytes | None = None) -> VerifyReport:
    """`signing_key`: also check digests.json's HMAC signature with it."""
    reader = EvidenceReader(root)
    if _is_sweep(reader):
        summary = _verify_sweep(reader, signing_key)
    elif reader.exists(layout.RUN_MANIFEST):
        summary = _verify_trial_folder(reader)
    elif _is_promoted_folder(reader):
        # promoted/ is only right against its sweep's trials, so the whole sweep is verified
        report = verify(layout.parent(reader.root), signing_key=signing_key)
        return replace(report, summary=f"{PROMOTED_IS_PART}: {report.summary}")
    else:
        reader.problem(
            root, "no evidence here: expected plan.json and trials/ (a sweep) or run_manifest.json (a trial)"
        )
        summary = "nothing checked"
    return VerifyReport(reader.root, reader.problems, summary)


def _is_sweep(reader: EvidenceReader) -> bool:
    return reader.exists(layout.PLAN) or reader.exists("trials")


def _is_promoted_folder(reader: EvidenceReader) -> bool:
    named = reader.root.rpartition("/")[2] == layout.PROMOTED
    return named and _is_sweep(EvidenceReader(layout.parent(reader.root)))


def _verify_trial_folder(reader: EvidenceReader) -> str:
    trial_id = reader.root.rsplit("/", 1)[-1]
    trial = load_trial(reader, "", trial_id, sweep_uid=None)
    if trial is not None:
        _check_trial(reader, "", trial, settings=None, eval_set=None)
    else:
        reader.lines(layout.METRICS, MetricsLine)
    score = format_score(trial.primary_score) if trial else "unknown"
    return f"trial {trial_id}: primary_score {score}; {counted(reader.files_read, 'file')} checked"


def _verify_sweep(reader: EvidenceReader, signing_key: bytes | None) -> str:
    plan = reader.document(layout.PLAN, Plan)
    settings = sweep_settings(plan, reader) if plan is not None else None
    trials = load_trials(reader, plan.sweep.uid if plan is not None else None)
    eval_set = _eval_set(reader, settings, evaluated=any(trial.evaluation for trial in trials))
    rung_scores = {
        trial.trial_id: _check_trial(reader, f"trials/{trial.trial_id}", trial, settings, eval_set)
        for trial in trials
    }
    trial_ids = {trial.trial_id for trial in trials}
    search_space = settings.search_space if settings is not None else None
    for trial in trials:
        lineage = lineage_problems(trial.manifest, _trial_uri(reader), trial_ids, search_space)
        for problem in lineage:
            reader.problem(f"trials/{trial.trial_id}/{layout.RUN_MANIFEST}", problem)
    if settings is None or settings.algorithm != "pbt":  # PBT's decisions are the trials' lineages
        _check_rung_decisions(reader, settings, trials, rung_scores)
    best = None
    if settings is not None:
        best = best_trial(trials, settings.objective.mode, allow_unscored=settings.allow_unscored)
    by_id = {trial.trial_id: trial for trial in trials}
    summary = reader.document(layout.SWEEP_SUMMARY, SweepSummary)
    present = {rel: reader.exists(rel) for rel in PROMOTION_FILES}
    # A local driver promotes before its final summary; the operator promotes after it, and may
    # refuse. So a succeeded sweep with a best trial is promoted when its driver says it promoted it,
    # or once any of the promotion's files is there.
    promoted = (
        summary is not None
        and summary.status == "succeeded"
        and best is not None
        and (summary.promoted_by == "driver" or any(present.values()))
    )
    if summary is not None:
        _check_sweep_summary(reader, summary, plan, settings, by_id, best)
        _check_required_files(reader, summary)
        if settings is not None:
            _check_warm_start(reader, summary, settings)
    if promoted:
        for rel in PROMOTION_FILES:
            if not present[rel]:
                reader.problem(
                    rel, "missing (this sweep was promoted: a promotion writes promoted/ and digests.json)"
                )
    elif present[layout.BEST_PARAMS] != present[layout.BEST_CONFIG]:
        for rel in (layout.BEST_PARAMS, layout.BEST_CONFIG):
            if not present[rel]:
                reader.problem(rel, "missing (a promotion writes both promoted files)")
    if present[layout.BEST_PARAMS] or present[layout.BEST_CONFIG]:
        _check_promoted(reader, plan, settings, best)
    _check_digests(reader, signing_key)
    scored = sum(trial.primary_score is not None for trial in trials)
    best_text = (
        f"best trial {best.trial_id} primary_score {format_score(best.primary_score)}"
        if best
        else "no best trial"
    )
    checked = counted(reader.files_read, "file")
    return f"{counted(len(trials), 'trial')} ({scored} scored), {best_text}; {checked} checked"


def _trial_uri(reader: EvidenceReader) -> Callable[[str], str]:
    return lambda trial_id: reader.uri(f"trials/{trial_id}")


def _eval_set(reader: EvidenceReader, settings: SweepSettings | None, *, evaluated: bool) -> EvalSet | None:
    eval_set = reader.document(layout.EVAL_SET, EvalSet, required=False)
    if eval_set is None:
        # None from a file that exists: it is invalid, and that is named already.
        if evaluated and not reader.exists(layout.EVAL_SET):
            reader.problem(layout.EVAL_SET, "missing (required for a sweep whose trials were evaluated)")
        return None
    data = _base_data(settings)
    if data is not None:
        for problem in size_problems(eval_set, data):
            reader.problem(layout.EVAL_SET, problem)
    return eval_set


def _base_data(settings: SweepSettings | None) -> DataConfig | None:
    if settings is None:
        return None
    try:
        return config_model(settings.backend).model_validate(settings.base_config).data
    except ValidationError:
        return None  # plan.json's spec validation has already named it


def _check_trial(
    reader: EvidenceReader,
    rel_dir: str,
    trial: TrialEvidence,
    settings: SweepSettings | None,
    eval_set: EvalSet | None,
) -> dict[int, float]:
    """Everything one trial's files must agree with: the plan (when there is one), the judge,
    the eval set and its own config. Returns its rung scores by step (metrics.jsonl)."""

    def rel(name: str) -> str:
        return f"{rel_dir}/{name}" if rel_dir else name

    manifest = trial.manifest
    for problem in trial_checkpoints.manifest_problems(reader.uri(rel_dir), manifest):
        reader.problem(rel(layout.RUN_MANIFEST), problem)
    if settings is not None:
        where = rel(layout.RUN_MANIFEST)
        for problem in search_space_problems(manifest.params, settings.search_space):
            reader.problem(where, problem)
        for problem in manifest_config_problems(
            manifest.config, manifest.status, settings.base_config, manifest.params, settings.backend
        ):
            reader.problem(where, problem)
    evaluation = trial.evaluation
    if evaluation is not None:
        where = rel(layout.EVAL_SUMMARY)
        problems = [
            *rejudged_problems(evaluation.judge, evaluation.rows, "rows"),
            *rejudged_problems(evaluation.judge, evaluation.test_rows, "test_rows"),
            *(evaluation_problems(eval_set, evaluation) if eval_set is not None else []),
        ]
        for problem in problems:
            reader.problem(where, problem)
    lines = reader.lines(rel(layout.METRICS), MetricsLine)
    if lines is not None:
        # Without a plan (a trial folder on its own), the rungs are the steps the trial scored at.
        scored = [line.step for line in lines if line.rung_score is not None]
        rungs = settings.rung_steps if settings is not None else scored
        _check_metrics(reader, rel(layout.METRICS), lines, manifest, rungs)
    return {line.step: line.rung_score for line in lines or [] if line.rung_score is not None}


def _check_rung_decisions(
    reader: EvidenceReader,
    settings: SweepSettings | None,
    trials: list[TrialEvidence],
    rung_scores: Mapping[str, Mapping[int, float]],
) -> None:
    """Every decision of the rung scheduler replayed (`rungs.decision_problems`). The file is
    required once a trial scored a rung before its last step: the scheduler decided there."""
    recorded = reader.document(layout.RUNG_DECISIONS, RungDecisions, required=False)
    if recorded is None:
        planned = settings.rung_steps if settings is not None else None
        decided = [
            trial.trial_id
            for trial in trials
            if any(
                step < _max_steps(trial.manifest) and (planned is None or step in planned)
                for step in rung_scores.get(trial.trial_id, {})
            )
        ]
        if decided and not reader.exists(layout.RUNG_DECISIONS):
            reader.problem(
                layout.RUNG_DECISIONS,
                f"missing (trial {decided[0]} scored a rung before its last step: the scheduler decided)",
            )
        return
    planned = settings.rung_steps if settings is not None else recorded.rung_steps
    ends = {trial.trial_id: (trial.status, _max_steps(trial.manifest)) for trial in trials}
    for problem in decision_problems(recorded, planned, rung_scores, ends):
        reader.problem(layout.RUNG_DECISIONS, problem)


def _max_steps(manifest: RunManifest) -> int:
    try:
        return config_model(manifest.backend).model_validate(manifest.config).training.max_steps
    except ValidationError:
        return 0  # an invalid config trains nothing; manifest_config_problems says so


def _check_metrics(
    reader: EvidenceReader,
    where: str,
    lines: list[MetricsLine],
    manifest: RunManifest,
    rung_steps: list[int],
) -> None:
    try:
        training = config_model(manifest.backend).model_validate(manifest.config).training
    except ValidationError:
        return  # an invalid config trains nothing; manifest_config_problems says whether it fits
    complete = manifest.status == "succeeded"

    def training_at(step: int) -> TrainingSection | CustomTraining:
        return config_model(manifest.backend).model_validate(config_at(manifest, step)).training

    checked = metrics_problems(lines, training, rung_steps, complete=complete, training_at=training_at)
    for number, problem in checked:
        reader.problem(where if number is None else f"{where}:{number}", problem)


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
            continue
        if not same_score(record.primary_score, trial.primary_score):
            reader.problem(
                where,
                f"{label} primary_score {format_score(record.primary_score)} "
                f"!= recomputed {format_score(trial.primary_score)}",
            )
        if record.params != trial.manifest.params:
            reader.problem(
                where, f"{label} params {record.params} != its run_manifest.json {trial.manifest.params}"
            )
        if record.status not in ("pending", "running") and record.status != trial.status:
            reader.problem(where, f"{label} status {record.status} != its run_manifest.json {trial.status}")
    if summary.status != "running":
        for trial_id in sorted(set(trials) - recorded):
            reader.problem(where, f"trial {trial_id} has evidence but no record in trials[]")
    if settings is not None:
        manifests = {trial_id: trial.manifest for trial_id, trial in trials.items()}
        final = summary.status != "running"
        for problem in budget_problems(
            settings.budget, summary.budget, summary.trials, manifests, final=final
        ):
            reader.problem(where, problem)
    if settings is None or (summary.best_trial is None and summary.status != "succeeded"):
        return
    claimed = summary.best_trial
    if claimed is None and best is None:
        return  # a smoke sweep with nothing scored: no best trial on either side
    if claimed is None or best is None or claimed.trial_id != best.trial_id:
        claimed_id = claimed.trial_id if claimed else "null"
        reader.problem(where, f"best_trial {claimed_id} != recomputed {best.trial_id if best else 'null'}")
    else:
        for problem in _score_problems(claimed, best):
            reader.problem(where, f"best_trial.{problem}")
        if claimed.params != best.manifest.params:
            reader.problem(
                where, f"best_trial.params {claimed.params} != trial {best.trial_id}'s {best.manifest.params}"
            )


def _check_warm_start(reader: EvidenceReader, summary: SweepSummary, settings: SweepSettings) -> None:
    """Each seeded point against its source's evidence, where the source is readable (its own
    problems are its verify's to name: here only what this sweep took from it)."""
    for index, record in enumerate(summary.warm_start):
        source = EvidenceReader(record.evidence_uri)
        try:
            if not source.exists(layout.PLAN):
                continue  # removed since: nothing to compare with
            trials = {trial.trial_id: trial for trial in load_trials(source, sweep_uid=None)}
        except bucket.BucketError:
            continue  # e.g. another bucket, out of this reader's reach
        for problem in seeded_problems(record, trials, settings.search_space):
            reader.problem(layout.SWEEP_SUMMARY, f"warm_start[{index}].{problem}")


def _score_problems(claimed: BestTrialRecord | BestParams, best: TrialEvidence) -> list[str]:
    """The winner's primary and held-out test scores as claimed against those recomputed from its rows."""
    return [
        f"{field} {format_score(score)} != recomputed {format_score(recomputed)}"
        for field, score, recomputed in (
            ("primary_score", claimed.primary_score, best.primary_score),
            ("test_score", claimed.test_score, best.test_score),
        )
        if not same_score(score, recomputed)
    ]


PROMOTION_FILES = (layout.BEST_CONFIG, layout.BEST_PARAMS, layout.DIGESTS)


def _check_required_files(reader: EvidenceReader, summary: SweepSummary) -> None:
    """Every trial file the summary's state implies."""
    for record in summary.trials:
        for name in _required_trial_files(record):
            rel = f"trials/{record.trial_id}/{name}"
            if not reader.exists(rel):
                reader.problem(rel, f"missing (required for a {record.status} trial)")


def _required_trial_files(record: TrialRecord) -> tuple[str, ...]:
    # How trial.py writes: the manifest first; a metrics line before each report reaches Ray (so
    # any iteration means metrics.jsonl); eval_summary.json before the trial is marked succeeded.
    if record.status == "succeeded":
        return (layout.RUN_MANIFEST, layout.METRICS, layout.EVAL_SUMMARY)
    if record.status in ("early_stopped", "failed", "interrupted") and record.started_at is not None:
        return (layout.RUN_MANIFEST, layout.METRICS) if record.iterations else (layout.RUN_MANIFEST,)
    return ()  # never started (no manifest to settle), or still going


def _check_promoted(
    reader: EvidenceReader,
    plan: Plan | None,
    settings: SweepSettings | None,
    best: TrialEvidence | None,
) -> None:
    """The promoted files against the trials (a missing one is named by `_verify_sweep`)."""
    best_params = reader.document(layout.BEST_PARAMS, BestParams, required=False)
    config_text = _read_best_config(reader, settings.backend if settings is not None else None)
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
    for problem in _score_problems(record, best):
        reader.problem(where, problem)
    expected = {
        "params": best.manifest.params,
        "run_id": best.manifest.run_id,
        "sweep": plan.sweep,
        "mode": settings.mode,
        "objective": settings.objective,
        "evidence_uri": plan.evidence_uri,
        "schedule": best.manifest.segments,
    }
    for name, value in expected.items():
        if getattr(record, name) != value:
            reader.problem(where, f"{name} {_show(getattr(record, name))} != expected {_show(value)}")


def _read_best_config(reader: EvidenceReader, backend: str | None) -> Any:
    where = layout.BEST_CONFIG
    text = reader.text(where)
    if text is None:
        return None  # named by _verify_sweep
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        reader.problem(where, f"not YAML: {error}")
        return None
    problems = best_config_problems(config, backend)
    for problem in problems:
        reader.problem(where, problem)
    return None if problems else config


def _check_best_config(
    reader: EvidenceReader, config: Any, settings: SweepSettings, best: TrialEvidence
) -> None:
    where = layout.BEST_CONFIG
    try:
        expected = resolved_config(fold_params(settings.base_config, best.manifest.params), settings.backend)
    except ValueError as error:  # a ConfigFoldError or the TrainingConfig's ValidationError
        reader.problem(where, f"cannot fold trial {best.trial_id}'s params into the base config: {error}")
        return
    for problem in config_differences(config, expected):
        reader.problem(where, problem)


def _check_digests(reader: EvidenceReader, signing_key: bytes | None) -> None:
    recorded = reader.document(layout.DIGESTS, Digests, required=False)
    if recorded is None:
        if signing_key is not None and not reader.exists(layout.DIGESTS):
            reader.problem(layout.DIGESTS, "missing, but a signing key was given")
        return
    for rel, problem in digest_problems(reader.root, recorded, key=signing_key):
        reader.problem(rel, problem)


def _show(value: Any) -> str:
    return repr(value.model_dump() if isinstance(value, BaseModel) else value)
