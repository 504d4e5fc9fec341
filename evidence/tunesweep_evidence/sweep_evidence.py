"""Reading a sweep's evidence back, for promotion and for `tunesweep evidence verify`.

Every trial's primary score, and its held-out test score, is recomputed from its evaluation
rows; the stored summaries are only compared against them, never trusted. Problems are collected
(as `relative/path: what is wrong`) rather than raised, so that verify can name them all and
promotion can refuse with all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from . import bucket, layout
from .budget import Terms, terms_of
from .documents import EvalRow, EvalSummary, Mode, ObjectiveRecord, Plan, RunManifest
from .primary_score import ScoreError, primary_score
from .search_plan import planned_search
from .selection import promotes_unscored
from .spec import SearchDimension, TuningSweepSpec
from .training_config import Backend
from .wording import counted

Document = TypeVar("Document", bound=BaseModel)

SCORE_TOLERANCE = 1e-9


class EvidenceReader:
    """Reads documents below one evidence folder, recording what is missing or invalid."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.problems: list[str] = []
        self.files_read = 0

    def uri(self, rel: str) -> str:
        return layout.join(self.root, rel) if rel else self.root

    def problem(self, rel: str, message: str) -> None:
        self.problems.append(f"{rel}: {message}")

    def exists(self, rel: str) -> bool:
        return bucket.exists(self.uri(rel))

    def text(self, rel: str) -> str | None:
        """A file's text; None when it is missing."""
        try:
            text = bucket.read_text(self.uri(rel))
        except bucket.ObjectNotFound:
            return None
        self.files_read += 1
        return text

    def document(self, rel: str, model: type[Document], *, required: bool = True) -> Document | None:
        try:
            document = bucket.read_document(self.uri(rel), model)
        except bucket.ObjectNotFound:
            if required:
                self.problem(rel, "missing")
            return None
        except bucket.DocumentError as error:
            self._document_problems(error)
            return None
        self.files_read += 1
        return document

    def lines(self, rel: str, model: type[Document]) -> list[Document] | None:
        """A JSON-lines file's documents; None when it is missing or any line is invalid."""
        try:
            documents = bucket.read_jsonl(self.uri(rel), model)
        except bucket.ObjectNotFound:
            return None
        except bucket.DocumentError as error:
            self._document_problems(error)
            return None
        self.files_read += 1
        return documents

    def _document_problems(self, error: bucket.DocumentError) -> None:
        rel = error.uri.removeprefix(self.root + "/")
        self.problems.extend(f"{rel}: {problem}" for problem in error.problems)


@dataclass(frozen=True)
class SweepSettings:
    """What promotion and verification need from the frozen spec in plan.json."""

    mode: Mode
    objective: ObjectiveRecord
    min_score: float | None
    backend: Backend
    base_config: dict[str, Any]
    search_space: dict[str, SearchDimension]
    rung_steps: list[int]
    """plan.json `search.rung_steps`, or derived from the spec for a plan written before it."""
    budget: Terms | None = None
    """spec.budget with the rate of one trial; None without a budget."""
    algorithm: str = "random"
    """spec.algorithm.name: under pbt, trials have lineages and no rung scheduler decides."""

    @property
    def allow_unscored(self) -> bool:
        return promotes_unscored(self.mode, self.min_score)


def sweep_settings(plan: Plan, reader: EvidenceReader) -> SweepSettings | None:
    try:
        spec = TuningSweepSpec.model_validate(plan.spec)
    except ValidationError as error:
        _spec_problems(reader, "spec", error)
        return None
    try:
        objective = ObjectiveRecord.model_validate(spec.objective.model_dump())
    except ValidationError as error:
        _spec_problems(reader, "spec.objective", error)
        return None
    return SweepSettings(
        mode=cast(Mode, spec.mode.value),
        objective=objective,
        min_score=spec.promotion.min_score,
        backend=spec.trainer.backend,
        base_config=spec.trainer.base_config,
        search_space=spec.search_space,
        rung_steps=planned_search(plan, spec).rung_steps,
        budget=terms_of(spec),
        algorithm=spec.algorithm.name,
    )


def _spec_problems(reader: EvidenceReader, prefix: str, error: ValidationError) -> None:
    for detail in error.errors():
        reader.problem(layout.PLAN, f"{'.'.join([prefix, *map(str, detail['loc'])])}: {detail['msg']}")


@dataclass(frozen=True)
class TrialEvidence:
    """One trial's evidence with its scores recomputed from the evaluation rows."""

    trial_id: str
    manifest: RunManifest
    evaluation: EvalSummary | None
    primary_score: float | None
    test_score: float | None
    """On the held-out test slice (`test_rows`), which no decision reads."""

    @property
    def status(self) -> str:
        return self.manifest.status

    @property
    def finished_at(self) -> str | None:
        return self.manifest.finished_at


def load_trials(reader: EvidenceReader, sweep_uid: str | None) -> list[TrialEvidence]:
    trials = []
    for trial_id in bucket.list_dir(reader.uri("trials")):
        trial = load_trial(reader, f"trials/{trial_id}", trial_id, sweep_uid)
        if trial is not None:
            trials.append(trial)
    return trials


def load_trial(
    reader: EvidenceReader, rel_dir: str, trial_id: str, sweep_uid: str | None
) -> TrialEvidence | None:
    """Read and cross-check one trial folder; None when its manifest is missing or invalid."""

    def rel(name: str) -> str:
        return f"{rel_dir}/{name}" if rel_dir else name

    manifest = reader.document(rel(layout.RUN_MANIFEST), RunManifest)
    evaluation = reader.document(rel(layout.EVAL_SUMMARY), EvalSummary, required=False)
    if manifest is None:
        return None
    if manifest.trial_id is not None and manifest.trial_id != trial_id:
        reader.problem(rel(layout.RUN_MANIFEST), f"trial_id {manifest.trial_id!r} != folder {trial_id!r}")
    if sweep_uid is not None and manifest.tuning_job_id != sweep_uid:
        reader.problem(
            rel(layout.RUN_MANIFEST), f"tuning_job_id {manifest.tuning_job_id!r} != sweep uid {sweep_uid!r}"
        )
    if evaluation is None:
        return TrialEvidence(trial_id, manifest, None, None, None)
    where = rel(layout.EVAL_SUMMARY)
    _check_identity(reader, where, evaluation, manifest)
    return TrialEvidence(
        trial_id,
        manifest,
        evaluation,
        _recomputed_score(reader, where, "primary_score", evaluation.primary_score, evaluation.rows),
        _recomputed_score(reader, where, "test_score", evaluation.test_score, evaluation.test_rows),
    )


def _check_identity(reader: EvidenceReader, rel: str, evaluation: EvalSummary, manifest: RunManifest) -> None:
    if evaluation.run_id != manifest.run_id:
        reader.problem(rel, f"run_id {evaluation.run_id!r} != run_manifest.json {manifest.run_id!r}")
    if evaluation.trial_id != manifest.trial_id:
        reader.problem(rel, f"trial_id {evaluation.trial_id!r} != run_manifest.json {manifest.trial_id!r}")
    if evaluation.n_examples != len(evaluation.rows):
        reader.problem(rel, f"n_examples {evaluation.n_examples} != {counted(len(evaluation.rows), 'row')}")


def _recomputed_score(
    reader: EvidenceReader, rel: str, field: str, recorded: float | None, rows: list[EvalRow]
) -> float | None:
    """The mean answer correctness of `rows`, checked against the `field` the trial recorded."""
    try:
        score = primary_score(rows)
    except ScoreError as error:
        reader.problem(rel, str(error))
        return None
    if not same_score(recorded, score):
        reader.problem(rel, f"{field} {format_score(recorded)} != recomputed {format_score(score)}")
    return score


def same_score(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0.0, abs_tol=SCORE_TOLERANCE)


def format_score(score: float | None) -> str:
    return "null" if score is None else repr(score)
