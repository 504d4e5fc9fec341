"""Promotion: the best trial's params folded into the base config, written beside the evidence.

`promote(root_uri)` is the one promotion both the local sweep driver and the operator call. It
re-reads every trial's evidence, checks that every evaluated trial was scored on the sweep's eval
set and test slice (eval_set.json), recomputes the scores from the evaluation rows, picks the best
trial (`selection.best_trial`), and writes two files below the sweep's folder:
`promoted/best_config.yaml` (the config the winner trained with, its run_manifest.json `config`,
once checked to be the base config with its params folded in; same shape as `baseConfig`, ready
for training) and `promoted/best_params.json` (the flat audit record, with the winner's held-out
test score beside its primary score), the audit record after the config, then `digests.json`
(`digests.py`: every evidence file's sha256, signed when TUNESWEEP_EVIDENCE_SIGNING_KEY names a key
file) last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from pydantic import ValidationError

from . import bucket, digests, layout
from .documents import BestParams, BestTrialRecord, EvalSet, Plan
from .eval_set import evaluation_problems
from .schemas import schema_problems
from .selection import best_trial
from .sweep_evidence import EvidenceReader, SweepSettings, TrialEvidence, load_trials, sweep_settings
from .training_config import CUSTOM_BACKENDS, CustomConfig
from .trial_config import ConfigFoldError, config_differences, fold_params, resolved_config
from .wording import counted


class PromotionRefusal(StrEnum):
    """Why `promote` refused (used as the condition/Event reason by the operator)."""

    invalid_evidence = "InvalidEvidence"
    """plan.json is missing or invalid, or a trial's evidence is invalid or inconsistent."""
    no_scored_trial = "NoScoredTrial"
    """No trial has a primary score, and the mode (production) or a minScore needs one."""
    no_succeeded_trial = "NoSucceededTrial"
    """Smoke mode, and no trial succeeded at all."""
    below_min_score = "BelowMinScore"
    """The best score is below promotion.minScore."""
    invalid_config = "InvalidConfig"
    """The best params folded into the base config do not make a valid training config."""


class PromotionError(Exception):
    """`promote` refused; nothing was written. `reason` says why, the message says what to fix."""

    def __init__(self, reason: PromotionRefusal, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class PromotionResult:
    best: TrialEvidence
    best_params: BestParams
    config: dict[str, Any]
    """The promoted training config, every default filled in."""
    config_yaml: str
    best_config_uri: str
    best_params_uri: str

    @property
    def best_trial_record(self) -> BestTrialRecord:
        """The `best_trial` of sweep_summary.json."""
        return BestTrialRecord(
            trial_id=self.best.trial_id,
            params=self.best_params.params,
            primary_score=self.best_params.primary_score,
            test_score=self.best_params.test_score,
        )


def promote(root_uri: str, *, now: datetime | None = None) -> PromotionResult:
    """Promote the best trial of the sweep whose evidence folder is `root_uri`.

    Mode, objective, minScore, base config, image and sweep identity come from plan.json.
    Raises PromotionError (nothing written) or bucket.BucketError (the store failed; retryable).
    """
    reader = EvidenceReader(root_uri)
    plan = reader.document(layout.PLAN, Plan)
    settings = sweep_settings(plan, reader) if plan is not None else None
    trials = load_trials(reader, plan.sweep.uid if plan is not None else None)
    _check_eval_rows(reader, trials)
    if plan is None or settings is None or reader.problems:
        raise _inconsistent(reader)
    best = _chosen_trial(trials, settings)
    config = _trained_config(reader, settings, best)
    config_yaml = render_best_config_yaml(config, settings.backend)
    best_params = build_best_params(
        plan, settings, best, promoted_at=(now or datetime.now(UTC)).isoformat(timespec="seconds")
    )
    result = PromotionResult(
        best=best,
        best_params=best_params,
        config=config,
        config_yaml=config_yaml,
        best_config_uri=reader.uri(layout.BEST_CONFIG),
        best_params_uri=reader.uri(layout.BEST_PARAMS),
    )
    key = digests.signing_key_from_env()  # an unusable key is refused before anything is written
    # Each file is atomic; the audit record goes after the config, so its presence means both are
    # complete, and the digests go last, over everything the sweep holds now.
    bucket.write_text(result.best_config_uri, config_yaml)
    bucket.write_document(result.best_params_uri, best_params)
    digests.write_digests(root_uri, key=key)
    return result


def _check_eval_rows(reader: EvidenceReader, trials: list[TrialEvidence]) -> None:
    """Every evaluated trial was scored on eval_set.json's rows and test rows (when it exists)."""
    eval_set = reader.document(layout.EVAL_SET, EvalSet, required=False)
    if eval_set is None:
        return
    for trial in trials:
        if trial.evaluation is not None:
            for problem in evaluation_problems(eval_set, trial.evaluation):
                reader.problem(f"trials/{trial.trial_id}/{layout.EVAL_SUMMARY}", problem)


def _trained_config(reader: EvidenceReader, settings: SweepSettings, best: TrialEvidence) -> dict[str, Any]:
    """The config the winner trained with (its run_manifest.json `config`), once it is plan.json's
    base config with the winner's params folded in."""
    try:
        expected = resolved_config(fold_params(settings.base_config, best.manifest.params), settings.backend)
    except (ConfigFoldError, ValidationError) as error:
        raise PromotionError(
            PromotionRefusal.invalid_config,
            f"trial {best.trial_id}'s params do not fit the base config: {error}",
        ) from None
    for problem in config_differences(best.manifest.config, expected, "config."):
        reader.problem(
            f"trials/{best.trial_id}/{layout.RUN_MANIFEST}",
            f"{problem} (plan.json base config with params folded in)",
        )
    if reader.problems:
        raise _inconsistent(reader)
    return best.manifest.config


def _inconsistent(reader: EvidenceReader) -> PromotionError:
    return PromotionError(
        PromotionRefusal.invalid_evidence,
        f"evidence under {reader.root} is not consistent:\n" + "\n".join(reader.problems),
    )


def _chosen_trial(trials: list[TrialEvidence], settings: SweepSettings) -> TrialEvidence:
    best = best_trial(trials, settings.objective.mode, allow_unscored=settings.allow_unscored)
    if best is None:
        if settings.allow_unscored:
            raise PromotionError(
                PromotionRefusal.no_succeeded_trial, f"none of {counted(len(trials), 'trial')} succeeded"
            )
        needs = "production mode" if settings.mode == "production" else "promotion.minScore"
        raise PromotionError(
            PromotionRefusal.no_scored_trial,
            f"none of {counted(len(trials), 'trial')} has a primary score, and {needs} refuses to promote "
            "a null score",
        )
    score, threshold = best.primary_score, settings.min_score
    if threshold is not None and score is not None and score < threshold:
        raise PromotionError(
            PromotionRefusal.below_min_score,
            f"best trial {best.trial_id} scored {score:.6g}, below promotion.minScore {threshold:.6g}",
        )
    return best


def render_best_config_yaml(config: Mapping[str, Any], backend: str) -> str:
    """best_config.yaml's text: the resolved config, sections in the model's order."""
    resolved = resolved_config(config, backend)
    problems = best_config_problems(resolved, backend)
    if problems:  # the committed schema file drifted from the model
        raise ValueError("best_config.yaml does not match best_config.schema.json: " + "; ".join(problems))
    return yaml.safe_dump(resolved, sort_keys=False, default_flow_style=False)


def best_config_problems(config: Any, backend: str | None) -> list[str]:
    """What is wrong with a best_config.yaml of `backend`'s: a built-in trainer's against
    best_config.schema.json, a custom trainer's (free-form) against the keys tunesweep reads."""
    if backend not in CUSTOM_BACKENDS:
        return schema_problems(config, "best_config.schema.json")
    try:
        CustomConfig.model_validate(config)
    except ValidationError as error:
        return [f"{'.'.join(map(str, e['loc'])) or '(config)'}: {e['msg']}" for e in error.errors()]
    return []


def build_best_params(
    plan: Plan, settings: SweepSettings, best: TrialEvidence, *, promoted_at: str
) -> BestParams:
    """The flat audit record of promoting `best`."""
    return BestParams(
        sweep=plan.sweep,
        trial_id=best.trial_id,
        run_id=best.manifest.run_id,
        params=best.manifest.params,
        primary_score=best.primary_score,
        test_score=best.test_score,
        objective=settings.objective,
        mode=settings.mode,
        backend=best.manifest.backend,
        image=best.manifest.image or plan.image,
        evidence_uri=plan.evidence_uri,
        promoted_at=promoted_at,
        trial_started_at=best.manifest.started_at,
        trial_finished_at=best.manifest.finished_at,
        schedule=best.manifest.segments,
    )
