"""The TuningSweep resource (tunesweep.dev/v1alpha1): spec and status models.

These models are the one source of truth: the CRD's OpenAPI schema is generated from them
(`tunesweep_evidence.crd`), and `tunesweep validate` runs them offline.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from ._model import WireModel

GROUP = "tunesweep.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TuningSweep"
PLURAL = "tuningsweeps"
SINGULAR = "tuningsweep"
SHORT_NAMES = ["tsweep", "tsw"]


class Mode(StrEnum):
    production = "production"
    smoke = "smoke"


class Accelerator(StrEnum):
    none = "none"
    nvidia_gpu = "nvidia.com/gpu"
    google_tpu = "google.com/tpu"


class TrainerSpec(WireModel):
    image: str = ""
    """Trainer image; empty means the operator's default for the accelerator (Helm values)."""
    backend: str = "flax-lm"
    """`flax-lm` (real Flax fine-tuning) or `mock` (the CPU mock trainer, for operator tests on kind)."""
    base_config: dict[str, Any] = Field(default_factory=dict)
    """Nested training config (model / training / data / eval); searchSpace paths point into it."""


class SearchDimension(WireModel):
    """Exactly one distribution."""

    loguniform: list[float] | None = None
    """[low, high], low > 0: sampled uniformly in log space."""
    uniform: list[float] | None = None
    """[low, high]: sampled uniformly."""
    randint: list[int] | None = None
    """[low, high): an integer, high exclusive."""
    choice: list[Any] | None = None
    """Values sampled uniformly."""
    grid: list[Any] | None = None
    """Every value is tried (with `trials.count` repeats of the grid)."""


class Objective(WireModel):
    metric: str = "primary_score"
    """The trial metric to optimise."""
    mode: str = "max"
    """`max` or `min`."""


class Algorithm(WireModel):
    name: str = "random"
    """`random`, `grid` or `tpe` (Optuna)."""
    seed: int = 0


class EarlyStopping(WireModel):
    name: str = "none"
    """`none` or `asha`."""
    grace_period: int = 1
    """ASHA: reports a trial makes before it can be stopped."""
    reduction_factor: int = 3
    """ASHA: the fraction (1/reductionFactor) of trials kept at each rung."""


class Trials(WireModel):
    count: int = 8
    """Trials to run (samples of the search space)."""
    parallel: int = 2
    """Trials running at once."""
    max_failed: int = 0
    """Failed trials tolerated before the sweep stops."""
    timeout_seconds: int = 3600
    """Wall-clock limit of one trial."""


class PerTrialResources(WireModel):
    accelerator: Accelerator = Accelerator.none
    count: int = 0
    """Accelerators per trial (GPUs, or TPU chips)."""
    cpu: str = "1"
    memory: str = "4Gi"


class Toleration(WireModel):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


class Workers(WireModel):
    replicas: int = 1
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)


class TpuSpec(WireModel):
    accelerator_type: str
    """GKE TPU accelerator, e.g. `tpu-v6e-slice` (node label cloud.google.com/gke-tpu-accelerator)."""
    topology: str
    """TPU slice topology, e.g. `2x2` or `2x2x4` (node label cloud.google.com/gke-tpu-topology)."""


class Resources(WireModel):
    per_trial: PerTrialResources = Field(default_factory=PerTrialResources)
    workers: Workers = Field(default_factory=Workers)
    tpu: TpuSpec | None = None
    queue_name: str = ""
    """Kueue LocalQueue; sets the kueue.x-k8s.io/queue-name label on the RayJob."""


class EvidenceSpec(WireModel):
    uri: str
    """Where evidence goes: `file://`, `s3://` or `gs://` prefix."""
    credentials_secret: str = ""
    """Secret in the sweep's namespace with bucket credentials (mounted as env, never copied)."""


class Promotion(WireModel):
    config_map_name: str = ""
    """ConfigMap receiving the promoted config; empty means `<sweep-name>-best`."""
    min_score: float | None = None
    """Refuse to promote a best primary score below this."""


class TuningSweepSpec(WireModel):
    mode: Mode = Mode.production
    trainer: TrainerSpec = Field(default_factory=TrainerSpec)
    search_space: dict[str, SearchDimension] = Field(default_factory=dict)
    objective: Objective = Field(default_factory=Objective)
    algorithm: Algorithm = Field(default_factory=Algorithm)
    early_stopping: EarlyStopping = Field(default_factory=EarlyStopping)
    trials: Trials = Field(default_factory=Trials)
    resources: Resources = Field(default_factory=Resources)
    evidence: EvidenceSpec
    promotion: Promotion = Field(default_factory=Promotion)
    ttl_seconds_after_finished: int | None = None
    """Seconds the finished Ray cluster is kept (KubeRay's ttlSecondsAfterFinished)."""


class ObjectMeta(WireModel):
    """The part of metadata tunesweep reads; everything else is passed through."""

    model_config = WireModel.model_config | {"extra": "allow"}
    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0


class TuningSweep(WireModel):
    api_version: str = API_VERSION
    kind: str = KIND
    metadata: ObjectMeta
    spec: TuningSweepSpec


# ---- status ----


class Phase(StrEnum):
    pending = "Pending"
    provisioning = "Provisioning"
    running = "Running"
    promoting = "Promoting"
    succeeded = "Succeeded"
    failed = "Failed"


class Condition(WireModel):
    type: str
    status: str
    """`True`, `False` or `Unknown`."""
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int = 0


class RayJobStatus(WireModel):
    name: str = ""
    ray_cluster: str = ""
    dashboard_url: str = Field("", alias="dashboardURL")
    job_deployment_status: str = ""
    job_status: str = ""


class TrialCounts(WireModel):
    total: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    early_stopped: int = 0


class BestTrial(WireModel):
    id: str
    params: dict[str, Any] = Field(default_factory=dict)
    primary_score: float | None = None


class Promoted(WireModel):
    config_map: str = ""
    evidence_uri: str = Field("", alias="evidenceURI")


class TuningSweepStatus(WireModel):
    phase: Phase = Phase.pending
    observed_generation: int = 0
    conditions: list[Condition] = Field(default_factory=list)
    evidence_uri: str = Field("", alias="evidenceURI")
    """The sweep's own evidence folder (`<uri>/<namespace>/<name>/<uid>`)."""
    ray_job: RayJobStatus | None = None
    trials: TrialCounts = Field(default_factory=TrialCounts)
    best_trial: BestTrial | None = None
    promoted: Promoted | None = None
    start_time: str | None = None
    completion_time: str | None = None
