"""Evidence documents: what a trial, a sweep and a promotion leave in the bucket.

Every document carries `schema_version`; its JSON Schema file under `schemas/` is generated from
these models and is what writers and `tunesweep evidence verify` validate against.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import ConfigDict, Field

from ._model import SnakeModel
from .training_config import Backend

SCHEMA_VERSION: Final = 1

Mode = Literal["production", "smoke"]
ObjectiveMode = Literal["max", "min"]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
"""A primary score: a mean of answer correctness, always in 0..1."""


def _require_schema_version(schema: dict[str, Any]) -> None:
    # `schema_version` has a default for writers, yet every document on disk must carry it.
    if "schema_version" in schema.get("properties", {}):
        schema["required"] = ["schema_version", *schema.get("required", [])]


class _Evidence(SnakeModel):
    """Base of every evidence model: strict JSON (no NaN/inf, which JSON cannot carry).

    Fields a newer writer added within the same schema version are ignored on read (and so never
    written back): an older reader keeps working. A newer major version is refused instead
    (`schemas.schema_problems`): its meaning may have changed.
    """

    model_config = SnakeModel.model_config | ConfigDict(
        extra="ignore", allow_inf_nan=False, json_schema_extra=_require_schema_version
    )


class SweepRef(_Evidence):
    name: str
    namespace: str
    uid: str
    """The TuningSweep's metadata.uid (also called tuning_job_id)."""


class AcceleratorInfo(_Evidence):
    platform: str
    """JAX platform: cpu, gpu or tpu (`mock` runs say cpu)."""
    device_kind: str = ""
    count: int = 0


class HostInfo(_Evidence):
    hostname: str
    """The machine's hostname; on Kubernetes, the Pod's name."""
    python: str
    accelerator: AcceleratorInfo
    ray_node_id: str | None = None
    """The Ray node the trial ran on; null outside Ray (a standalone `tunesweep train`)."""
    node_ip: str | None = None
    """That Ray node's IP address (on Kubernetes, the Pod's); null outside Ray."""
    ray_resources: dict[str, float] | None = None
    """The Ray resources granted to the trial's process (`{"CPU": 1, "GPU": 1}`); null outside Ray."""
    process_id: int | None = None
    """The trial's process on that host: trials with the same hostname and process id ran one after
    another in one reused process. Null in evidence written before it was recorded."""


class CompileCacheUse(_Evidence):
    """What one trial found in JAX's persistent compilation cache (its `jax.monitoring` events)."""

    folder: str
    """The cache folder: the configured location, then one subfolder per JAX version and platform
    (`jax-<version>_jaxlib-<version>/<platform>-<device kind>-<device count>`)."""
    hits: int = Field(ge=0)
    """Compilations read from the cache instead of compiled."""
    misses: int = Field(ge=0)
    """Compilations the trial did and wrote to the cache."""


class BaseModelUse(_Evidence):
    """Where a trial's base model came from: a LoRA trial takes the frozen base an earlier trial of
    its process loaded, if it is the same."""

    cached: bool
    """Taken from the trial process's cache (an earlier trial in it loaded the same base)."""
    load_s: float = Field(ge=0)
    """Seconds to load the base (read it, place it on the devices), or to take it from the cache."""


class FileDigest(_Evidence):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class CheckpointRecord(_Evidence):
    """checkpoint.json, written last into a trial checkpoint's folder (`checkpoints/step-<step>/`):
    a checkpoint is complete exactly when it has this file, and its files match these digests."""

    schema_version: Literal[1] = SCHEMA_VERSION
    step: int = Field(ge=1)
    """Optimizer updates the saved state holds."""
    segment: int = Field(0, ge=0)
    """PBT: the index of the trial's segment (run_manifest.json `segments`) it belongs to."""
    files: dict[str, FileDigest]
    """The state's files, relative to the checkpoint's folder."""
    data_position: int = Field(ge=0)
    """Training examples consumed up to `step` (steps x global batch): the data order is seeded
    (`training.seed`), so the resumed trial reads on from exactly here."""
    rng: dict[str, Any] = Field(default_factory=dict)
    """The random state the trial resumes with (the data order's seed; a backend's own generators)."""
    elapsed_s: float = Field(ge=0)
    """The trial's training seconds up to this step, resumed attempts included."""
    saved_at: str
    save_s: float = Field(ge=0)
    """Seconds to write the state and upload it."""


class LineageSource(_Evidence):
    """The checkpoint a PBT segment went on from: another trial's, at one of its perturbation steps."""

    trial_id: str
    step: int = Field(ge=1)
    folder: str
    """The checkpoint's folder, relative to that trial's folder."""
    record_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """sha256 of that checkpoint's checkpoint.json (which holds its files' digests)."""


class Segment(_Evidence):
    """A stretch of a PBT trial trained with one set of params."""

    from_step: int = Field(ge=0)
    """The step it started from: 0, or its source checkpoint's step."""
    params: dict[str, Any]
    """The sampled params it trained with (flat dotted paths)."""
    source: LineageSource | None = None
    """Whose checkpoint it started from; null for the first segment."""
    started_at: str


class CheckpointRef(_Evidence):
    """A checkpoint a trial keeps, as its run_manifest.json lists it."""

    step: int = Field(ge=1)
    folder: str
    """Relative to the trial's folder: `checkpoints/step-<step>`."""
    bytes: int = Field(ge=0)
    save_s: float = Field(ge=0)


class TrialAttempt(_Evidence):
    """One start of a trial's process: the first, and each restart after a lost process or node or a
    resumed sweep."""

    started_at: str
    resumed_from_step: int = Field(0, ge=0)
    """The checkpoint step it went on from; 0: from the start."""
    host: str = ""
    """The hostname (Pod) it ran on."""
    after: Literal["lost", "stopped", "interrupted"] | None = None
    """How the start before it ended; null for the first. `lost`: its process, node or driver was
    lost mid-training (a restart); `stopped`: the sweep's scheduler paused it (PBT waits for the
    population at each perturbation step); `interrupted`: the sweep was stopped (Ctrl-C)."""


class RunManifest(_Evidence):
    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    tuning_job_id: str | None = None
    """The sweep's uid; null for a standalone `tunesweep train`."""
    trial_id: str | None = None
    backend: Backend
    params: dict[str, Any] = Field(default_factory=dict)
    """The sampled hyperparameters, flat dotted paths."""
    config: dict[str, Any]
    """The full resolved training config."""
    seed: int
    image: str = ""
    versions: dict[str, str] = Field(default_factory=dict)
    """tunesweep and framework versions (jax, flax, optax, tunix, ray)."""
    host: HostInfo
    global_batch_size: int | None = Field(None, ge=1)
    """Training examples in each optimizer step: `training.per_device_batch_size` times the trial's
    devices (`host.accelerator.count`), split across them; null when the config is invalid or no
    device is counted (mock)."""
    status: Literal["running", "succeeded", "failed", "early_stopped", "interrupted"]
    """`early_stopped`: the search algorithm (e.g. ASHA) stopped the trial before `max_steps`.
    `interrupted`: the sweep was stopped (Ctrl-C) while the trial ran; it runs again from the start
    when the sweep resumes."""
    error: str | None = None
    started_at: str
    finished_at: str | None = None
    compile_cache: CompileCacheUse | None = None
    """JAX's persistent compilation cache in this trial, recorded when it ends; null for a backend
    that does not use it (mock, a custom trainer)."""
    base_model: BaseModelUse | None = None
    """Where the base model came from, recorded when the trial succeeds; null for a trial that did
    not finish, a backend without a base model (mock, a custom trainer), and evidence written
    before it was recorded."""
    attempts: list[TrialAttempt] = Field(default_factory=list)
    """Every start of this trial, in order; more than one: it was restarted (a lost process, node
    or driver) and resumed from `resumed_from_step`. Empty in evidence written before it was
    recorded."""
    checkpoints: list[CheckpointRef] = Field(default_factory=list)
    """The checkpoints it keeps (`trials.checkpoints.keep`), oldest first."""
    segments: list[Segment] = Field(default_factory=list)
    """PBT: each stretch trained with one set of params, in order; the first from step 0 with the
    params the trial was sampled with, each next one from another trial's checkpoint with perturbed
    params (`params` and `config` are the last one's). Empty: one segment, the trial's own params."""


class EvalRow(_Evidence):
    id: str
    prompt: str
    expected: str
    prediction: str
    extracted_answer: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    """Per-row judge metrics, e.g. answer_correctness in 0..1."""
    score: float | None = None
    """A judge's own score, on `scale`."""
    scale: str | None = None
    """The declared scale of `score`: `0..1` or `0..100`."""


class JudgeInfo(_Evidence):
    name: str
    version: str = "1"


class EvalSummary(_Evidence):
    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    trial_id: str | None = None
    mode: Mode
    backend: Backend
    primary_score: Score | None
    """Mean answer correctness of `rows` (see `primary_score.py`); null when no row was scorable."""
    n_examples: int = Field(ge=0)
    metrics: dict[str, float] = Field(default_factory=dict)
    """Means of each per-row metric."""
    judge: JudgeInfo
    rows: list[EvalRow]
    test_score: Score | None = None
    """Mean answer correctness of `test_rows`: the held-out test slice, which no decision reads
    (selection, rungs and the searcher use `primary_score`); reported beside the winner's score."""
    test_rows: list[EvalRow] = Field(default_factory=list)
    """The judged rows of the test slice (`data.test_size` examples, disjoint from `rows`)."""


class MetricsLine(_Evidence):
    """One line of metrics.jsonl (extra keys allowed for backend-specific metrics)."""

    model_config = _Evidence.model_config | ConfigDict(extra="allow")
    schema_version: Literal[1] = SCHEMA_VERSION
    step: int = Field(ge=0)
    loss: float | None = None
    """Null when the loss is not finite (JSON carries no NaN)."""
    learning_rate: float | None = None
    elapsed_s: float = Field(ge=0)
    rung_score: Score | None = None
    """At a rung step only: answer correctness on the rung slice (`data.rung_size` examples, apart
    from the eval set), the score the early-stopping scheduler ranks trials on."""
    rung_eval_s: float | None = Field(None, ge=0)
    """At a rung step only: the seconds that rung's evaluation took (what rungs cost the trial)."""


TrialState = Literal["pending", "running", "succeeded", "failed", "early_stopped", "interrupted"]


class RungScore(_Evidence):
    step: int = Field(ge=1)
    score: Score


class TrialRecord(_Evidence):
    trial_id: str
    status: TrialState
    params: dict[str, Any] = Field(default_factory=dict)
    primary_score: Score | None = None
    error: str | None = None
    iterations: int = Field(0, ge=0)
    started_at: str | None = None
    finished_at: str | None = None
    hostname: str | None = None
    """Where the trial ran, from its run_manifest.json `host` (on Kubernetes, the Pod's name);
    null until the trial has finished, or when it left no manifest."""
    ray_node_id: str | None = None
    """The Ray node it ran on (run_manifest.json `host.ray_node_id`)."""
    rung_scores: list[RungScore] = Field(default_factory=list)
    """The rung slice's answer correctness at each rung the trial reached, as the scheduler saw it."""
    restarts: int = Field(0, ge=0)
    """Times the trial was started again after its process, node or driver was lost (its
    run_manifest.json `attempts` after one `lost`): it went on from its checkpoint each time."""
    held_from: str | None = None
    """spec.budget: when the driver started the trial, holding its resources (at or before its
    run_manifest's started_at); null when it never started or the sweep has no budget."""
    held_until: str | None = None
    """spec.budget: when it let them go, the later of the driver's end of it and its run_manifest's
    finished_at; while it runs, when the summary was written. A trial the sweep stopped may mark its
    manifest's end a moment after the final summary (at most `budget.STOP_GRACE`)."""
    accelerator_hours: float | None = Field(None, ge=0)
    """spec.budget: what it cost, in the budget's unit (GPU-hours, TPU chip-hours or CPU
    core-hours): the budget's rate times the hours from held_from to held_until."""


class RungDecision(_Evidence):
    trial_id: str
    step: int = Field(ge=1)
    score: Score
    """The trial's rung score at this rung (its metrics.jsonl `rung_score` at `step`)."""
    cutoff: Score | None
    """The (1 - 1/reductionFactor) percentile of the scores recorded at this rung before; null for
    the first trial there."""
    compared_with: int = Field(ge=0)
    """How many trials had recorded a score at this rung before."""
    cut: bool
    """Whether the scheduler stopped the trial here (score below cutoff, training not finished)."""
    finished: bool = False
    """The trial had finished training at this step (its max_steps is a rung): its score counts for
    the trials after it, and it is never cut."""


class RungDecisions(_Evidence):
    """rung_decisions.json: every decision of the rung scheduler, in the order it took them."""

    schema_version: Literal[1] = SCHEMA_VERSION
    rung_steps: list[Annotated[int, Field(ge=1)]]
    reduction_factor: int = Field(ge=2)
    decisions: list[RungDecision]


class ObjectiveRecord(_Evidence):
    metric: str
    mode: ObjectiveMode


class BestTrialRecord(_Evidence):
    trial_id: str
    params: dict[str, Any]
    primary_score: Score | None
    """Null only in smoke mode, where a sweep without any scored trial still promotes."""
    test_score: Score | None = None
    """The winner's score on the held-out test slice (no decision used it)."""


class WarmStartSourceRef(_Evidence):
    source: str
    """The spec's words: `spec.warmStart[i].sweep <name>` or `spec.warmStart[i].evidenceURI`."""
    evidence_uri: str
    """The source sweep's evidence folder."""


class SeededPoint(_Evidence):
    """One scored trial of an earlier sweep, told to this sweep's searcher as a finished trial."""

    trial_id: str
    """The trial in the source sweep (`trials/<trial_id>/` below its evidence URI)."""
    params: dict[str, Any]
    """Its values of this sweep's searchSpace paths (a path the source did not search: the value
    of its config there)."""
    primary_score: Score
    """Recomputed from the source trial's eval rows, never read from its summaries."""


class SkippedPoint(_Evidence):
    trial_id: str
    reason: str
    """Why it was not seeded, naming the path (e.g. a value outside this sweep's searchSpace)."""


class WarmStartRecord(WarmStartSourceRef):
    """What one `spec.warmStart` source, verified before use, gave this sweep's searcher."""

    seeded: list[SeededPoint] = Field(default_factory=list)
    skipped: list[SkippedPoint] = Field(default_factory=list)
    """Its trials that were not seeded: unscored ones, and points outside this sweep's searchSpace."""


class SweepBudget(_Evidence):
    """spec.budget, and what the sweep spent of it."""

    unit: str
    """`GPU-hours`, `TPU chip-hours` or `CPU core-hours` (a sweep without accelerators)."""
    rate: float = Field(ge=0)
    """What one trial spends per hour it holds its resources: perTrial.count chips, or perTrial.cpu
    cores."""
    limit: float | None = Field(None, gt=0)
    """budget.acceleratorHours; null when only wall time is limited."""
    spent: float = Field(ge=0)
    """The sum of the trials' accelerator_hours."""
    left: float | None = Field(None, ge=0)
    """limit - spent (never below 0); null without a limit."""
    wall_seconds_limit: int | None = Field(None, gt=0)
    """budget.wallSeconds; null without one."""
    wall_seconds_used: float = Field(ge=0)
    """Seconds since the sweep started, when this summary was written."""
    started_at: str
    """When the sweep's driver first started (wall time counts from here)."""
    cut_trials: list[str] = Field(default_factory=list)
    """Trials the budget cut at a report because it was spent (or the wall time passed)."""
    stopped_starting: str = ""
    """Why the budget ended the search before every planned trial ran (`BudgetSpent: ...`,
    `WallTimeSpent: ...`); empty when it did not."""


class SweepSummary(_Evidence):
    schema_version: Literal[1] = SCHEMA_VERSION
    sweep: SweepRef
    mode: Mode
    objective: ObjectiveRecord
    status: Literal["running", "succeeded", "failed"]
    reason: str = ""
    """Why the sweep ended as it did (empty while running)."""
    trials: list[TrialRecord]
    best_trial: BestTrialRecord | None = None
    warm_start: list[WarmStartRecord] = Field(default_factory=list)
    """The earlier sweeps' trials that seeded the searcher (`spec.warmStart`): not trials of this
    sweep, never promoted."""
    budget: SweepBudget | None = None
    """spec.budget and its spend; null for a sweep without a budget."""
    promoted_by: Literal["driver", "operator"] | None = None
    """Who promotes this sweep once it succeeded: `driver` (a local run; the final summary is written
    after the promotion) or `operator` (on a cluster, after this summary; it may refuse). Null while
    running."""
    updated_at: str


class BestParams(_Evidence):
    """The flat audit record of a promotion."""

    schema_version: Literal[1] = SCHEMA_VERSION
    sweep: SweepRef
    trial_id: str
    run_id: str
    params: dict[str, Any]
    primary_score: Score | None
    """Null only in smoke mode (production refuses to promote a null score)."""
    test_score: Score | None = None
    """The winner's score on the held-out test slice, which no decision used."""
    objective: ObjectiveRecord
    mode: Mode
    backend: Backend
    image: str = ""
    evidence_uri: str
    """The sweep's evidence folder this promotion was computed from."""
    promoted_at: str
    trial_started_at: str | None = None
    trial_finished_at: str | None = None
    schedule: list[Segment] = Field(default_factory=list)
    """PBT: the winner's schedule of params (its run_manifest.json `segments`), which `params` ends;
    empty for a trial trained with one set of params."""


class SearchPlan(_Evidence):
    """How the sweep searches, derived from its spec when the plan is frozen (`search_plan.py`)."""

    rung_steps: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    """ASHA's rungs, in optimizer steps: where each trial scores its rung slice and may be cut."""
    random_startup_trials: int | None = Field(None, ge=1)
    """TPE: trials sampled at random before the model of good and bad trials is used."""


class Plan(_Evidence):
    """plan.json: the validated spec, frozen when the sweep starts; the driver's only input."""

    schema_version: Literal[1] = SCHEMA_VERSION
    sweep: SweepRef
    spec: dict[str, Any]
    """The TuningSweep spec (camelCase, as applied), validated."""
    evidence_uri: str
    """The sweep's own evidence folder; everything the driver writes goes below it."""
    image: str = ""
    created_at: str
    search: SearchPlan | None = None
    """Null in plans written before the search was planned: derived from `spec` then."""
    warm_start: list[WarmStartSourceRef] = Field(default_factory=list)
    """`spec.warmStart` resolved: each source's evidence folder (a sweep name looked up when the
    plan was frozen), so that the driver needs no Kubernetes."""


class EvalSetRow(_Evidence):
    id: str
    expected: str
    prompt_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """sha256 of the row's prompt (UTF-8): the prompt itself stays in each eval_summary.json."""


class EvalSet(_Evidence):
    """eval_set.json: the examples every trial of the sweep is evaluated on, recorded by the driver
    at sweep start from the plan's base config and the backend's data."""

    schema_version: Literal[1] = SCHEMA_VERSION
    backend: Backend
    source: str
    """`data.eval` of the base config (e.g. `builtin:arithmetic`, a JSONL URI)."""
    rows: list[EvalSetRow]
    test_rows: list[EvalSetRow] = Field(default_factory=list)
    """The held-out test slice every trial is also scored on (`data.test_size` examples)."""


class Digests(_Evidence):
    """digests.json: every evidence file of a promoted sweep (relative path -> sha256 and size),
    written last by the promotion, so that a file changed, removed or added afterwards is named."""

    schema_version: Literal[1] = SCHEMA_VERSION
    files: dict[str, FileDigest]
    signature: str | None = None
    """HMAC-SHA256 (hex) of the canonical `files`, when the writer had a signing key."""
