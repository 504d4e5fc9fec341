"""Promotion: the best trial's params folded into the base config, written beside the evidence.

`promote(root_uri)` is the one promotion both the local sweep driver and the operator call. It
re-reads every trial's evidence, recomputes the primary scores from the evaluation rows, picks
the best trial (`selection.best_trial`), and writes two files below the sweep's folder:
`promoted/best_config.yaml` (the nested training config, same shape as `baseConfig`, ready for
training) and `promoted/best_params.json` (the flat audit record), the audit record after the
config, then `digests.json` (`digests.py`: every evidence file's sha256, signed when
TUNESWEEP_EVIDENCE_SIGNING_KEY names a key file) last.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from pydantic import ValidationError

from . import bucket, digests, layout
from .documents import BestParams, BestTrialRecord, Plan
from .schemas import schema_problems
from .selection import best_trial
from .sweep_evidence import EvidenceReader, SweepSettings, TrialEvidence, load_trials, sweep_settings
from .training_config import TrainingConfig


class PromotionRefusal(StrEnum):
    """Why `promote` refused (used as the condition/Event reason by the operator)."""

    invalid_evidence = "InvalidEvidence"
    """plan.json is missing or invalid, or a trial's evidence is invalid or inconsistent."""
    no_scored_trial = "NoScoredTrial"
    """No trial has a primary score, and the mode (production) or a minScore needs one."""
    no_succeeded_trial = "NoSucceededTrial"
    """Smoke mode, and no trial succeeded at all."""
    below_min_score = "BelowMinScore"
    """The best score does not reach promotion.minScore (in the objective's direction)."""
    invalid_config = "InvalidConfig"
    """The best params folded into the base config do not make a valid training config."""


class PromotionError(Exception):
    """`promote` refused; nothing was written. `reason` says why, the message says what to fix."""

    def __init__(self, reason: PromotionRefusal, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class ConfigFoldError(ValueError):
    """A dotted param path that cannot be folded into the config."""


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
    if plan is None or settings is None or reader.problems:
        raise PromotionError(
            PromotionRefusal.invalid_evidence,
            f"evidence under {root_uri} is not consistent:\n" + "\n".join(reader.problems),
        )
    best = _chosen_trial(trials, settings)
    try:
        config = resolved_config(fold_params(settings.base_config, best.manifest.params))
    except (ConfigFoldError, ValidationError) as error:
        raise PromotionError(
            PromotionRefusal.invalid_config,
            f"trial {best.trial_id}'s params do not fit the base config: {error}",
        ) from None
    config_yaml = render_best_config_yaml(config)
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


def _chosen_trial(trials: list[TrialEvidence], settings: SweepSettings) -> TrialEvidence:
    best = best_trial(trials, settings.objective.mode, allow_unscored=settings.allow_unscored)
    if best is None:
        if settings.allow_unscored:
            raise PromotionError(
                PromotionRefusal.no_succeeded_trial, f"none of {len(trials)} trials succeeded"
            )
        needs = "production mode" if settings.mode == "production" else "promotion.minScore"
        raise PromotionError(
            PromotionRefusal.no_scored_trial,
            f"none of {len(trials)} trials has a primary score, and {needs} refuses to promote a null score",
        )
    score, threshold = best.primary_score, settings.min_score
    if threshold is not None and score is not None:
        worse = score < threshold if settings.objective.mode == "max" else score > threshold
        if worse:
            raise PromotionError(
                PromotionRefusal.below_min_score,
                f"best trial {best.trial_id} scored {score:.6g}, worse than promotion.minScore "
                f"{threshold:.6g} (objective mode {settings.objective.mode})",
            )
    return best


def fold_params(base_config: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of the nested `base_config` with each flat dotted param set at its path.

    Missing intermediate sections are created; a path through a non-mapping value is an error.
    """
    config = copy.deepcopy(dict(base_config))
    for path, value in params.items():
        keys = path.split(".")
        if not all(keys):
            raise ConfigFoldError(f"param {path!r}: empty segment in the dotted path")
        node = config
        for depth, key in enumerate(keys[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                prefix = ".".join(keys[: depth + 1])
                raise ConfigFoldError(f"param {path!r}: {prefix} is {child!r}, not a section")
            node = child
        node[keys[-1]] = copy.deepcopy(value)
    return config


def resolved_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as training will read it: validated by TrainingConfig, every default filled in."""
    return TrainingConfig.model_validate(config).model_dump(mode="json")


def render_best_config_yaml(config: Mapping[str, Any]) -> str:
    """best_config.yaml's text: the resolved config, sections in the model's order."""
    resolved = resolved_config(config)
    problems = schema_problems(resolved, "best_config.schema.json")
    if problems:  # the committed schema file drifted from the model
        raise ValueError("best_config.yaml does not match best_config.schema.json: " + "; ".join(problems))
    return yaml.safe_dump(resolved, sort_keys=False, default_flow_style=False)


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
        objective=settings.objective,
        mode=settings.mode,
        backend=best.manifest.backend,
        image=best.manifest.image or plan.image,
        evidence_uri=plan.evidence_uri,
        promoted_at=promoted_at,
        trial_started_at=best.manifest.started_at,
        trial_finished_at=best.manifest.finished_at,
    )
