"""Evidence documents: what a trial, a sweep and a promotion leave in the bucket.

Every document carries `schema_version`; its JSON Schema file under `schemas/` is generated from
these models and is what writers and `tunesweep evidence verify` validate against.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ._model import SnakeModel

SCHEMA_VERSION = 1


class SweepRef(SnakeModel):
    name: str
    namespace: str
    uid: str
    """The TuningSweep's metadata.uid (also called tuning_job_id)."""


class AcceleratorInfo(SnakeModel):
    platform: str
    """JAX platform: cpu, gpu or tpu (`mock` runs say cpu)."""
    device_kind: str = ""
    count: int = 0


class HostInfo(SnakeModel):
    hostname: str
    python: str
    accelerator: AcceleratorInfo


class RunManifest(SnakeModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    tuning_job_id: str | None = None
    """The sweep's uid; null for a standalone `tunesweep train`."""
    trial_id: str | None = None
    backend: Literal["flax-lm", "mock"]
    params: dict[str, Any] = Field(default_factory=dict)
    """The sampled hyperparameters, flat dotted paths."""
    config: dict[str, Any]
    """The full resolved training config."""
    seed: int
    image: str = ""
    versions: dict[str, str] = Field(default_factory=dict)
    """tunesweep and framework versions (jax, flax, optax, tunix, ray)."""
    host: HostInfo
    status: Literal["running", "succeeded", "failed"]
    error: str | None = None
    started_at: str
    finished_at: str | None = None


class EvalRow(SnakeModel):
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


class JudgeInfo(SnakeModel):
    name: str
    version: str = "1"


class EvalSummary(SnakeModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    trial_id: str | None = None
    mode: Literal["production", "smoke"]
    backend: Literal["flax-lm", "mock"]
    primary_score: float | None
    n_examples: int
    metrics: dict[str, float] = Field(default_factory=dict)
    """Means of each per-row metric."""
    judge: JudgeInfo
    rows: list[EvalRow]


class MetricsLine(SnakeModel):
    """One line of metrics.jsonl (extra keys allowed for backend-specific metrics)."""

    model_config = SnakeModel.model_config | {"extra": "allow"}
    step: int
    loss: float | None = None
    learning_rate: float | None = None
    elapsed_s: float


TrialState = Literal["pending", "running", "succeeded", "failed", "early_stopped"]


class TrialRecord(SnakeModel):
    trial_id: str
    status: TrialState
    params: dict[str, Any] = Field(default_factory=dict)
    primary_score: float | None = None
    error: str | None = None
    iterations: int = 0
    started_at: str | None = None
    finished_at: str | None = None


class ObjectiveRecord(SnakeModel):
    metric: str
    mode: Literal["max", "min"]


class BestTrialRecord(SnakeModel):
    trial_id: str
    params: dict[str, Any]
    primary_score: float


class SweepSummary(SnakeModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    sweep: SweepRef
    mode: Literal["production", "smoke"]
    objective: ObjectiveRecord
    status: Literal["running", "succeeded", "failed"]
    reason: str = ""
    """Why the sweep ended as it did (empty while running)."""
    trials: list[TrialRecord]
    best_trial: BestTrialRecord | None = None
    updated_at: str


class BestParams(SnakeModel):
    """The flat audit record of a promotion."""

    schema_version: Literal[1] = SCHEMA_VERSION
    sweep: SweepRef
    trial_id: str
    run_id: str
    params: dict[str, Any]
    primary_score: float
    objective: ObjectiveRecord
    mode: Literal["production", "smoke"]
    backend: Literal["flax-lm", "mock"]
    image: str = ""
    evidence_uri: str
    """The sweep's evidence folder this promotion was computed from."""
    promoted_at: str
    trial_started_at: str | None = None
    trial_finished_at: str | None = None


class Plan(SnakeModel):
    """plan.json: the validated spec, frozen when the sweep starts; the driver's only input."""

    schema_version: Literal[1] = SCHEMA_VERSION
    sweep: SweepRef
    spec: dict[str, Any]
    """The TuningSweep spec (camelCase, as applied), validated."""
    evidence_uri: str
    """The sweep's own evidence folder; everything the driver writes goes below it."""
    image: str = ""
    created_at: str
