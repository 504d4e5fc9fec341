"""The TuningSweep resource (tunesweep.dev/v1alpha1): spec and status models.

These models are the one source of truth: the CRD's OpenAPI schema and its CEL rules are generated
from them (`tunesweep_evidence.crd`), and `tunesweep validate` runs them offline. Field constraints
become schema keywords; cross-field rules are `spec_rules.Rule`s on the model they read; checks
against the training config (search-space paths, the locked evaluation protocol, sampled values,
baseConfig, the rungs of `search_plan`) are Python only (`training_config_checks`), as the CRD leaves
baseConfig free-form.

`None` always means "absent": the CRD marks no field nullable, so the API server prunes nulls and
CEL rules only need `has()`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

from . import evidence_uri, memory_checks, placement
from ._model import WireModel
from .labels import (
    DNS_SUBDOMAIN,
    LABEL_VALUE_MEANING,
    NODE_SELECTOR_AND_TOLERATION_KEYS,
    OPTIONAL_LABEL_VALUE,
)
from .pod_overlay import HEAD_CONTAINER, WORKER_CONTAINER, PodTemplateOverlay, Toleration, owned_violations
from .quantity import QuantityError, parse_quantity
from .search_plan import SearchPlanError, rung_steps
from .spec_rules import FieldPath, Rule, RuleModel, Violation
from .training_config import Backend
from .training_config_checks import training_config_violations

GROUP = "tunesweep.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TuningSweep"
PLURAL = "tuningsweeps"
SINGULAR = "tuningsweep"
SHORT_NAMES = ["tsweep", "tsw"]

IMMUTABLE_SPEC_FIELDS = (
    "mode",
    "trainer",
    "searchSpace",
    "objective",
    "algorithm",
    "earlyStopping",
    "trials",
    "evidence",
    "budget",
    "warmStart",
)
"""What the sweep searches and where its evidence goes: frozen into plan.json when it starts, so once
the operator set status.evidenceURI the CRD refuses changes (`crd.frozen_field_rule`); before that
they are the operator's to read. resources, promotion and ttlSecondsAfterFinished stay editable."""

MAX_DIMENSIONS = 32
MAX_VALUES = 64
OPTIONAL_DNS_SUBDOMAIN = rf"^({DNS_SUBDOMAIN})?$"
OPTIONAL_DNS_LABEL = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"
SWEEP_NAME = rf"^{DNS_SUBDOMAIN}$"
_DOMAIN_COMPONENT = r"([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9])"
_PATH_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
OPTIONAL_IMAGE = (
    rf"^(({_DOMAIN_COMPONENT}(\.{_DOMAIN_COMPONENT})*(:[0-9]+)?/)?{_PATH_COMPONENT}(/{_PATH_COMPONENT})*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?)?$"
)
"""An OCI image reference (the distribution/reference grammar, IPv6 hosts aside), or empty."""
ENTRYPOINT = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
PATTERN_MEANINGS = {
    ENTRYPOINT: "a Python function as `module.path:function`, e.g. my_pkg.train:run",
    OPTIONAL_DNS_SUBDOMAIN: "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.') or empty",
    SWEEP_NAME: "a TuningSweep's name: a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')",
    OPTIONAL_DNS_LABEL: "a DNS-1123 label (lowercase letters, digits and '-', at most 63) or empty",
    OPTIONAL_IMAGE: (
        "an OCI image reference without spaces, e.g. registry.example:5000/team/trainer:1.2 or "
        "trainer@sha256:<digest> (repository path in lowercase), or empty for the operator's default"
    ),
    OPTIONAL_LABEL_VALUE: LABEL_VALUE_MEANING,
}
"""Words for the patterns above, for messages (pydantic only quotes the regular expression)."""


def _number_as_text(value: Any) -> Any:
    # YAML `cpu: 4` is a number; Kubernetes quantities are int-or-string.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _positive_quantity(text: str) -> bool:
    try:
        return parse_quantity(text) > 0
    except QuantityError:
        return False


Quantity = Annotated[
    str,
    BeforeValidator(_number_as_text),
    Field(max_length=64, json_schema_extra={"x-kubernetes-int-or-string": True}),
]
"""A Kubernetes quantity: `4`, `500m`, `16Gi`. Its format is a rule, not a pattern: the API server
applies no pattern to an int-or-string value."""


class Mode(StrEnum):
    production = "production"
    smoke = "smoke"


class Accelerator(StrEnum):
    none = "none"
    nvidia_gpu = "nvidia.com/gpu"
    google_tpu = "google.com/tpu"


class TrainerSpec(RuleModel):
    """What runs each trial."""

    image: str = Field("", max_length=512, pattern=OPTIONAL_IMAGE)
    """Trainer image; empty means the operator's default for the accelerator (Helm values). A custom
    trainer's image is built `FROM` a tunesweep trainer image with the trainer installed."""
    backend: Backend = "flax-lm"
    """`flax-lm` (real Flax fine-tuning), `mock` (the CPU mock trainer, for operator tests on kind),
    `python` (your function, `entrypoint`) or `command` (your program, `command`)."""
    entrypoint: str | None = Field(None, max_length=512, pattern=ENTRYPOINT)
    """backend `python`: `module.path:function`, called with the trial's config (a dict) and a
    `tunesweep_trainer.custom.TrialContext`; it returns the answers to the eval and test examples."""
    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] | None = Field(
        None, min_length=1, max_length=64
    )
    """backend `command`: the program and its arguments (no shell), run once per trial with the
    file contract of `tunesweep_trainer.custom.command_backend` (TUNESWEEP_* environment)."""
    base_config: dict[str, Any] = Field(default_factory=dict)
    """Nested training config (model / training / data / eval), the shape of the promoted
    best_config.yaml; omitted keys take the trainer's defaults. searchSpace paths point into it. For
    `python` and `command` it is free-form, but for `data` and `training.max_steps` /
    `report_every_steps` / `seed`, which tunesweep reads. Every key, with its type, default and
    meaning, the model presets and the learning-rate schedule: `tunesweep explain <backend>`."""

    rules = (
        Rule(
            "backend python needs trainer.entrypoint: the function that trains, as `module.path:function`",
            lambda t: t.backend != "python" or t.entrypoint is not None,
            cel="self.backend != 'python' || has(self.entrypoint)",
            field=("entrypoint",),
        ),
        Rule(
            "backend command needs trainer.command: the program and its arguments, a list of strings",
            lambda t: t.backend != "command" or t.command is not None,
            cel="self.backend != 'command' || has(self.command)",
            field=("command",),
        ),
        Rule(
            "trainer.entrypoint is read by backend python only: set backend python or remove it",
            lambda t: t.entrypoint is None or t.backend == "python",
            cel="!has(self.entrypoint) || self.backend == 'python'",
            field=("entrypoint",),
        ),
        Rule(
            "trainer.command is read by backend command only: set backend command or remove it",
            lambda t: t.command is None or t.backend == "command",
            cel="!has(self.command) || self.backend == 'command'",
            field=("command",),
        ),
    )


FloatPair = Annotated[list[float], Field(min_length=2, max_length=2)]
IntPair = Annotated[list[int], Field(min_length=2, max_length=2)]
Values = Annotated[list[Any], Field(min_length=1, max_length=MAX_VALUES)]


def _grid_key(value: Any) -> Any:
    # Numbers compare by value as CEL and JSON see them (1 == 1.0); booleans are not numbers.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return (type(value).__name__, repr(value))
    return ("number", float(value))


class SearchDimension(RuleModel):
    """How one config value is sampled: exactly one distribution."""

    loguniform: FloatPair | None = None
    """[low, high], 0 < low < high: sampled uniformly in log space."""
    uniform: FloatPair | None = None
    """[low, high], low < high: sampled uniformly."""
    randint: IntPair | None = None
    """[low, high), low < high: an integer, high exclusive."""
    choice: Values | None = None
    """Values sampled uniformly (any JSON values the config field accepts)."""
    grid: Values | None = None
    """Distinct values, every one tried (`trials.count` passes over the grid)."""

    schema_extra: ClassVar[dict[str, Any]] = {"minProperties": 1, "maxProperties": 1}
    # The API server runs CEL even when a pair fails minItems: `size(...) == 2` keeps its
    # "index out of bounds" out of the refusal, and the rule's own words in.
    rules = (
        Rule(
            "give exactly one distribution: loguniform, uniform, randint, choice or grid",
            lambda d: sum(v is not None for v in d.distributions().values()) == 1,
            cel=None,
            server="minProperties/maxProperties 1",
        ),
        Rule(
            "loguniform needs [low, high] with 0 < low < high",
            lambda d: d.loguniform is None or 0 < d.loguniform[0] < d.loguniform[1],
            cel=(
                "!has(self.loguniform) || (size(self.loguniform) == 2"
                " && self.loguniform[0] > 0.0 && self.loguniform[0] < self.loguniform[1])"
            ),
            field=("loguniform",),
        ),
        Rule(
            "uniform needs [low, high] with low < high",
            lambda d: d.uniform is None or d.uniform[0] < d.uniform[1],
            cel="!has(self.uniform) || (size(self.uniform) == 2 && self.uniform[0] < self.uniform[1])",
            field=("uniform",),
        ),
        Rule(
            "randint needs [low, high) with low < high (high is exclusive)",
            lambda d: d.randint is None or d.randint[0] < d.randint[1],
            cel="!has(self.randint) || (size(self.randint) == 2 && self.randint[0] < self.randint[1])",
            field=("randint",),
        ),
        Rule(
            "grid values must be distinct",
            lambda d: d.grid is None or len({_grid_key(v) for v in d.grid}) == len(d.grid),
            cel=None,
            field=("grid",),
            server="none: CEL cannot read untyped (mixed-type) items",
        ),
    )

    def distributions(self) -> dict[str, list[Any] | None]:
        return {
            "loguniform": self.loguniform,
            "uniform": self.uniform,
            "randint": self.randint,
            "choice": self.choice,
            "grid": self.grid,
        }

    def kind(self) -> str:
        """The name of the one distribution given."""
        return next(name for name, values in self.distributions().items() if values is not None)


OBJECTIVE_MESSAGE = (
    "a sweep optimises answer correctness only: primary_score (the mean answer correctness on the "
    "eval set, 0..1), maximised, is what the rungs, the searcher and the promotion rank trials on; "
    "set objective {metric: primary_score, mode: max} or leave objective out"
)


def _objective_only(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("objective_fixed", OBJECTIVE_MESSAGE) from None


class Objective(WireModel):
    """What the sweep optimises: answer correctness, the one score every decision ranks trials on."""

    metric: Annotated[Literal["primary_score"], WrapValidator(_objective_only)] = "primary_score"
    """`primary_score`, the mean answer correctness on the eval set (0..1); the only metric."""
    mode: Annotated[Literal["max"], WrapValidator(_objective_only)] = "max"
    """`max`, the only mode: a higher answer correctness is better."""


class Algorithm(WireModel):
    """How trials are chosen."""

    name: Literal["random", "grid", "tpe", "pbt"] = "random"
    """`random`, `grid` (every combination of grid/choice values), `tpe` (Optuna), or `pbt`
    (Population Based Training: every perturbationInterval steps each trial scores the rung slice,
    and one in the bottom quantileFraction goes on from the checkpoint of one in the top, with its
    params perturbed)."""
    seed: int = Field(0, ge=0, le=2**32 - 1)
    """Seeds the search algorithm, so a sweep samples the same trials again."""
    perturbation_interval: int = Field(100, ge=1, le=10_000_000)
    """pbt: optimizer steps between two exploit/explore decisions of a trial."""
    quantile_fraction: float = Field(0.25, gt=0, le=0.5)
    """pbt: the share of trials at the bottom that copy one at the top (the same share)."""
    resample_probability: float = Field(0.25, ge=0, le=1)
    """pbt: the chance that explore draws a param anew from searchSpace rather than multiplying it
    by 0.8 or 1.2."""


class EarlyStopping(WireModel):
    """Stopping unpromising trials early."""

    name: Literal["none", "asha"] = "none"
    """`none` (every trial runs to max_steps) or `asha`: at each rung, every trial scores the rung
    slice of the eval data (`data.rung_size` examples) and only the best 1/reductionFactor of the
    trials that reached that rung go on."""
    grace_period: int = Field(100, ge=1, le=10_000_000)
    """ASHA: optimizer steps a trial trains before it can be stopped, the first rung. The rungs are
    at gracePeriod * reductionFactor^k steps, below the largest max_steps."""
    reduction_factor: int = Field(3, ge=2, le=100)
    """ASHA: the fraction (1/reductionFactor) of trials kept at each rung."""


class TrialCheckpoints(WireModel):
    """Checkpoints at report steps, under each trial's evidence folder (`checkpoints/`)."""

    keep: int = Field(2, ge=0, le=1_000)
    """The newest checkpoints each trial keeps; 0: none, a restarted trial starts from step 0."""
    every_steps: int | None = Field(None, ge=1, le=10_000_000)
    """Save at the report steps that are multiples of this; unset: at every report step."""


class Trials(WireModel):
    """How many trials, how many at once, and their limits."""

    count: int = Field(8, ge=1, le=10_000)
    """Trials to run (samples of the search space); with grid values, passes over the grid."""
    parallel: int = Field(2, ge=1, le=1_000)
    """Trials running at once (at most count, unless algorithm is grid)."""
    max_failed: int = Field(0, ge=0, le=10_000)
    """Failed trials tolerated before the sweep stops."""
    timeout_seconds: int = Field(3600, ge=1, le=30 * 24 * 3600)
    """Wall-clock limit of one trial."""
    max_restarts: int = Field(3, ge=0, le=100)
    """Times one trial is started again after its process or node was lost (a killed Pod, a
    preempted VM): it resumes from its last checkpoint and counts as a restart, not a failure. An
    error of the trainer itself (a raised exception, a NaN loss) is never retried."""
    checkpoints: TrialCheckpoints = Field(default_factory=lambda: TrialCheckpoints())
    """Where trials save their trainable state, so that a restarted or resumed trial goes on from
    there."""


BUDGET_NEEDS_A_LIMIT = "budget needs acceleratorHours, wallSeconds or both; remove budget for none"


class Budget(RuleModel):
    """What the whole sweep may spend. The driver starts a trial only while the budget can afford
    it (finished trials' mean cost as the estimate), and cuts running trials at their next report
    once it is spent."""

    accelerator_hours: float | None = Field(None, gt=0, le=1_000_000)
    """Chips x hours over all trials: perTrial.count GPUs or TPU chips times the hours each trial
    holds them (from its start to its end, failed and cut trials included). With accelerator none,
    CPU core-hours: perTrial.cpu (e.g. `500m` is half a core) times the hours."""
    wall_seconds: int | None = Field(None, ge=1, le=365 * 24 * 3600)
    """No trial starts after this many seconds since the sweep started; running trials are cut at
    their next report."""

    rules = (
        Rule(
            BUDGET_NEEDS_A_LIMIT,
            lambda b: b.accelerator_hours is not None or b.wall_seconds is not None,
            cel="has(self.acceleratorHours) || has(self.wallSeconds)",
        ),
    )


class PerTrialResources(RuleModel):
    """What one trial gets."""

    accelerator: Accelerator = Accelerator.none
    """`none` (CPU only), `nvidia.com/gpu` or `google.com/tpu`."""
    count: int = Field(0, ge=0, le=256)
    """Accelerators per trial (GPUs, or TPU chips); 0 exactly when accelerator is none."""
    cpu: Quantity = "1"
    """CPU cores per trial, a Kubernetes quantity (`4`, `500m`)."""
    memory: Quantity = "4Gi"
    """Memory per trial, a Kubernetes quantity (`16Gi`)."""

    rules = (
        Rule(
            "count must be 0 when accelerator is none, and at least 1 otherwise",
            lambda r: (r.accelerator == Accelerator.none) == (r.count == 0),
            cel="(self.accelerator == 'none') == (self.count == 0)",
            field=("count",),
        ),
        Rule(
            "cpu must be a positive Kubernetes quantity, e.g. 4 or 500m",
            lambda r: _positive_quantity(r.cpu),
            cel=("isQuantity(string(self.cpu)) && quantity(string(self.cpu)).isGreaterThan(quantity('0'))"),
            field=("cpu",),
        ),
        Rule(
            "memory must be a positive Kubernetes quantity, e.g. 16Gi",
            lambda r: _positive_quantity(r.memory),
            cel=(
                "isQuantity(string(self.memory))"
                " && quantity(string(self.memory)).isGreaterThan(quantity('0'))"
            ),
            field=("memory",),
        ),
    )


class Workers(RuleModel):
    """The Ray worker pods that run the trials."""

    replicas: int | None = Field(None, ge=0, le=1_000)
    """Ray worker pods (TPU: single-host slices), each running one trial at a time. Absent: one per
    trials.parallel, so that many trials run at once; 0 runs the trials on the head pod, one at a time."""
    node_selector: dict[str, Annotated[str, Field(max_length=63, pattern=OPTIONAL_LABEL_VALUE)]] = Field(
        default_factory=dict, max_length=32
    )
    """Node labels the worker pods require."""
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    """Tolerations of the worker pods."""

    rules = NODE_SELECTOR_AND_TOLERATION_KEYS


class TpuSpec(WireModel):
    """The TPU slice each worker group gets (GKE)."""

    accelerator_type: str = Field(pattern=r"^tpu[-a-z0-9]*$", max_length=63)
    """GKE TPU accelerator, e.g. `tpu-v6e-slice` (node label cloud.google.com/gke-tpu-accelerator)."""
    topology: str = Field(pattern=r"^[1-9][0-9]*(x[1-9][0-9]*){1,2}$", max_length=32)
    """TPU slice topology, e.g. `2x2` or `2x2x4` (node label cloud.google.com/gke-tpu-topology)."""


class Resources(RuleModel):
    """Where and on what the trials run."""

    per_trial: PerTrialResources = Field(default_factory=PerTrialResources)
    """What one trial gets."""
    workers: Workers = Field(default_factory=Workers)
    """The Ray worker pods."""
    tpu: TpuSpec | None = None
    """Required with perTrial.accelerator google.com/tpu, and only then."""
    queue_name: str = Field("", pattern=OPTIONAL_DNS_LABEL, max_length=63)
    """Kueue LocalQueue; sets the kueue.x-k8s.io/queue-name label on the RayJob. Empty: no Kueue."""
    head_pod_template: PodTemplateOverlay | None = None
    """Merged into the Ray head Pod's template after the chart's ray.headPodTemplate (strategic
    merge): pull secrets, priorityClassName, affinity, nodeSelector and tolerations, annotations,
    security contexts, extra volumes and env, container resources beyond cpu/memory/accelerators.
    What the operator sets (command, image, ports, its env, volumes and resources) is refused."""
    worker_pod_template: PodTemplateOverlay | None = None
    """The same for the Ray worker Pods, after the chart's ray.workerPodTemplate."""

    rules = (
        Rule(
            "tpu (acceleratorType, topology) is required when perTrial.accelerator is google.com/tpu",
            lambda r: r.per_trial.accelerator != Accelerator.google_tpu or r.tpu is not None,
            cel="self.perTrial.accelerator != 'google.com/tpu' || has(self.tpu)",
            field=("tpu",),
        ),
        Rule(
            "tpu is only used with perTrial.accelerator google.com/tpu",
            lambda r: r.tpu is None or r.per_trial.accelerator == Accelerator.google_tpu,
            cel="!has(self.tpu) || self.perTrial.accelerator == 'google.com/tpu'",
            field=("tpu",),
        ),
    )

    def more_violations(self) -> list[Violation]:
        found: list[Violation] = []
        for field, overlay, container in (
            ("headPodTemplate", self.head_pod_template, HEAD_CONTAINER),
            ("workerPodTemplate", self.worker_pod_template, WORKER_CONTAINER),
        ):
            if overlay is not None:
                found += [
                    Violation((field, *v.field), v.message) for v in owned_violations(overlay, container)
                ]
        return found


class EvidenceSpec(RuleModel):
    """Where the sweep's evidence goes."""

    uri: str = Field("", max_length=1024)
    """`file:///<folder>`, `s3://<bucket>[/prefix]` or `gs://<bucket>[/prefix]`; empty means the
    operator's default (Helm values). Local mode (`tunesweep run`) writes below it too, in
    `<uri>/local/<name>/`, unless given `--out`."""
    credentials_secret: str = Field("", pattern=OPTIONAL_DNS_SUBDOMAIN, max_length=253)
    """Secret in the sweep's namespace with bucket credentials (mounted as env, never copied)."""

    rules = (
        Rule(
            evidence_uri.FORM_MESSAGE,
            lambda e: e.uri == "" or evidence_uri.well_formed(e.uri),
            cel=f"self.uri == '' || {evidence_uri.cel_matches(evidence_uri.FORM)}",
            field=("uri",),
        ),
        Rule(
            evidence_uri.SECRETS_MESSAGE,
            lambda e: evidence_uri.without_secrets(e.uri),
            cel=evidence_uri.CEL_WITHOUT_SECRETS,
            field=("uri",),
        ),
        Rule(
            evidence_uri.SEGMENTS_MESSAGE,
            lambda e: evidence_uri.plain_segments(e.uri),
            cel=evidence_uri.CEL_PLAIN_SEGMENTS,
            field=("uri",),
        ),
        Rule(
            evidence_uri.BUCKET_MESSAGE,
            lambda e: evidence_uri.valid_bucket(e.uri),
            cel=evidence_uri.CEL_VALID_BUCKET,
            field=("uri",),
        ),
        Rule(
            "credentialsSecret is only used with s3:// or gs:// uris",
            lambda e: e.credentials_secret == "" or not e.uri.startswith("file:"),
            cel="self.credentialsSecret == '' || !self.uri.startsWith('file:')",
            field=("credentialsSecret",),
        ),
    )


MAX_WARM_START_SOURCES = 8
WARM_START_ONE_OF = "give exactly one of evidenceURI (an earlier sweep's evidence folder) or sweep (its name)"
WARM_START_TPE = (
    "warmStart seeds a model-based searcher, and seeding a random or grid search changes nothing: "
    "use algorithm tpe, or remove warmStart"
)


PBT_SEARCHABLE = ("training.learning_rate", "training.weight_decay")
"""What PBT may change in the middle of a trial: the optimizer's hyperparameters, which a trial
resumed from another's optimizer state can take."""
PBT_PARAMS = (
    "algorithm pbt changes params in the middle of training, where only the optimizer's can change: "
    f"search only {' and '.join(PBT_SEARCHABLE)}, or use another algorithm"
)
PBT_ALONE = "algorithm pbt decides which trials go on itself: set earlyStopping.name none"
PBT_CHECKPOINTS = "algorithm pbt copies trials' checkpoints: set trials.checkpoints.keep to 1 or more"
PBT_POPULATION = (
    "algorithm pbt trains its whole population at once, each trial waiting for the others at every "
    "perturbation step: set trials.parallel to trials.count"
)
PBT_BACKENDS = (
    "algorithm pbt needs the trainer's checkpoints (backend flax-lm or mock); a custom trainer keeps "
    "its own: use another algorithm"
)


def _warm_uri_rule(check: Callable[[str], bool], message: str, cel: str) -> Rule:
    return Rule(
        message,
        lambda s: s.evidence_uri is None or check(s.evidence_uri),
        cel=f"!has(self.evidenceURI) || ({cel})",
        field=("evidenceURI",),
    )


# Outside the class: there, the field `evidence_uri` hides the module.
_WARM_URI_RULES = tuple(
    _warm_uri_rule(check, message, cel)
    for (check, message), cel in zip(
        evidence_uri.CHECKS, evidence_uri.cel_checks("self.evidenceURI"), strict=True
    )
)


class WarmStartSource(RuleModel):
    """An earlier sweep whose verified results seed this sweep's searcher (nothing is re-run):
    exactly one of evidenceURI or sweep. Before the sweep starts, its evidence is verified and its
    backend, evaluation protocol (eval set, judge), baseConfig (apart from searched paths) and
    search space are checked against this sweep's; a problem refuses the sweep."""

    evidence_uri: str | None = Field(None, alias="evidenceURI", max_length=1024)
    """The earlier sweep's evidence folder (its status.evidenceURI): `file:///<folder>`,
    `s3://<bucket>/<prefix>` or `gs://<bucket>/<prefix>`."""
    sweep: str | None = Field(None, pattern=SWEEP_NAME, max_length=253)
    """A Succeeded TuningSweep in this namespace, by name: its status.evidenceURI is used. Local
    mode (`tunesweep run`) uses the folder it writes that sweep to (`<evidence.uri>/local/<name>`,
    else ./runs/<name>)."""

    schema_extra: ClassVar[dict[str, Any]] = {"minProperties": 1, "maxProperties": 1}
    rules = (
        Rule(
            WARM_START_ONE_OF,
            lambda s: (s.evidence_uri is None) != (s.sweep is None),
            cel=None,
            server="minProperties/maxProperties 1",
        ),
        *_WARM_URI_RULES,
    )


class Promotion(WireModel):
    """What happens to the best trial."""

    config_map_name: str = Field("", pattern=OPTIONAL_DNS_SUBDOMAIN, max_length=253)
    """ConfigMap receiving the promoted config; empty means `<sweep-name>-best`."""
    min_score: float | None = Field(None, ge=0.0, le=1.0)
    """Refuse to promote a best primary score (0..1) below this."""


BASE_CONFIG_MESSAGE = (
    "production mode needs a baseConfig (the model and data to tune); without one the builtin demo "
    "model `tiny` would be tuned — set baseConfig, or use mode: smoke to try the demo"
)
SMOKE_DEMO_WARNING = (
    "no baseConfig: this smoke sweep tunes the builtin demo model `tiny` on the builtin arithmetic "
    "data; set baseConfig to tune your own model"
)


def _search_plan_violations(spec: TuningSweepSpec) -> list[Violation]:
    try:
        rung_steps(spec)
    except SearchPlanError as error:
        pbt = spec.algorithm.name == "pbt"
        field = ("algorithm", "perturbationInterval") if pbt else ("earlyStopping", "gracePeriod")
        return [Violation(field, str(error))]
    return []


def _grid(dim: SearchDimension) -> bool:
    return dim.grid is not None


def _continuous(dim: SearchDimension) -> bool:
    return dim.kind() in ("loguniform", "uniform", "randint")


class TuningSweepSpec(RuleModel):
    """A hyperparameter sweep: trials sample searchSpace into baseConfig; the best one is promoted."""

    mode: Mode = Mode.production
    """`production` refuses to promote a null score; `smoke` allows it."""
    trainer: TrainerSpec = Field(default_factory=TrainerSpec)
    """What runs each trial."""
    search_space: dict[str, SearchDimension] = Field(min_length=1, max_length=MAX_DIMENSIONS)
    """Dotted paths into baseConfig (e.g. `training.learning_rate`), each with one distribution."""
    objective: Objective = Field(default_factory=Objective)
    """What the sweep optimises."""
    algorithm: Algorithm = Field(default_factory=Algorithm)
    """How trials are chosen."""
    early_stopping: EarlyStopping = Field(default_factory=EarlyStopping)
    """Stopping unpromising trials early."""
    trials: Trials = Field(default_factory=Trials)
    """How many trials, how many at once, and their limits."""
    resources: Resources = Field(default_factory=Resources)
    """Where and on what the trials run."""
    evidence: EvidenceSpec = Field(default_factory=EvidenceSpec)
    """Where the evidence goes."""
    promotion: Promotion = Field(default_factory=Promotion)
    """What happens to the best trial."""
    budget: Budget | None = None
    """What the sweep may spend in accelerator-hours (CPU core-hours without accelerators) and wall
    time; absent: no limit beyond trials.count."""
    ttl_seconds_after_finished: int | None = Field(None, ge=0)
    """Seconds the finished Ray cluster is kept (KubeRay's ttlSecondsAfterFinished)."""
    warm_start: list[WarmStartSource] | None = Field(None, min_length=1, max_length=MAX_WARM_START_SOURCES)
    """Earlier sweeps (1 to 8) whose verified, scored trials seed the TPE searcher as finished trials:
    they are not re-run, not counted as this sweep's trials and never promoted. Their points outside
    this searchSpace are skipped. Needs algorithm tpe."""

    rules = (
        Rule(
            "algorithm grid enumerates values: every searchSpace entry must use grid or choice",
            lambda s: s.algorithm.name != "grid" or not any(map(_continuous, s.search_space.values())),
            cel=(
                "self.algorithm.name != 'grid' || self.searchSpace.all(k,"
                " !has(self.searchSpace[k].loguniform) && !has(self.searchSpace[k].uniform)"
                " && !has(self.searchSpace[k].randint))"
            ),
            field=("searchSpace",),
        ),
        Rule(
            "algorithm tpe (Optuna) or pbt cannot enumerate a grid: use choice, or algorithm grid",
            lambda s: s.algorithm.name not in ("tpe", "pbt") or not any(map(_grid, s.search_space.values())),
            cel=None,
            field=("searchSpace",),
            server="none: CEL cannot read grid (untyped items)",
        ),
        Rule(
            "trials.parallel must be at most the trials planned (trials.count, times the grid's size)",
            lambda s: s.trials.parallel <= placement.planned_trials(s),
            # CEL can neither read choice/grid values (untyped) nor multiply their counts: with a
            # dimension of either kind, the operator (and `tunesweep validate`) checks the product.
            cel=(
                "self.trials.parallel <= self.trials.count || self.algorithm.name == 'grid'"
                " || self.searchSpace.exists(k, !has(self.searchSpace[k].loguniform)"
                " && !has(self.searchSpace[k].uniform) && !has(self.searchSpace[k].randint))"
            ),
            field=("trials", "parallel"),
        ),
        Rule(
            PBT_PARAMS,
            lambda s: s.algorithm.name != "pbt" or set(s.search_space) <= set(PBT_SEARCHABLE),
            cel=f"self.algorithm.name != 'pbt' || self.searchSpace.all(k, k in {list(PBT_SEARCHABLE)})",
            field=("searchSpace",),
        ),
        Rule(
            PBT_ALONE,
            lambda s: s.algorithm.name != "pbt" or s.early_stopping.name == "none",
            cel=(
                "self.algorithm.name != 'pbt' || !has(self.earlyStopping)"
                " || self.earlyStopping.name == 'none'"
            ),
            field=("earlyStopping", "name"),
        ),
        Rule(
            PBT_CHECKPOINTS,
            lambda s: s.algorithm.name != "pbt" or s.trials.checkpoints.keep >= 1,
            cel=(
                "self.algorithm.name != 'pbt' || !has(self.trials) || !has(self.trials.checkpoints)"
                " || !has(self.trials.checkpoints.keep) || self.trials.checkpoints.keep >= 1"
            ),
            field=("trials", "checkpoints", "keep"),
        ),
        Rule(
            PBT_POPULATION,
            lambda s: s.algorithm.name != "pbt" or s.trials.parallel == s.trials.count,
            cel=(
                "self.algorithm.name != 'pbt' || (has(self.trials) && has(self.trials.parallel)"
                " && has(self.trials.count) && self.trials.parallel == self.trials.count)"
            ),
            field=("trials", "parallel"),
        ),
        Rule(
            PBT_BACKENDS,
            lambda s: s.algorithm.name != "pbt" or s.trainer.backend in ("flax-lm", "mock"),
            cel="self.algorithm.name != 'pbt' || !has(self.trainer) || !has(self.trainer.backend)"
            " || self.trainer.backend in ['flax-lm', 'mock']",
            field=("trainer", "backend"),
        ),
        Rule(
            WARM_START_TPE,
            lambda s: s.warm_start is None or s.algorithm.name == "tpe",
            cel="!has(self.warmStart) || self.algorithm.name == 'tpe'",
            field=("warmStart",),
        ),
        Rule(
            BASE_CONFIG_MESSAGE,
            lambda s: s.mode != Mode.production or bool(s.trainer.base_config),
            cel=None,
            field=("trainer", "baseConfig"),
            server="none: baseConfig is free-form (the operator and `tunesweep validate` refuse it)",
        ),
    )

    def more_violations(self) -> list[Violation]:
        config = training_config_violations(self.trainer.backend, self.trainer.base_config, self.search_space)
        # The rungs and the memory forecast follow from the training config (its max_steps, its
        # shapes), and the forecast from the placement too, so each runs once those are valid.
        placed = placement.violations(self)
        if config:
            return config + placed
        return _search_plan_violations(self) + placed + ([] if placed else memory_checks.violations(self))

    def warnings(self) -> list[tuple[FieldPath, str]]:
        """What runs, but maybe not as meant (field relative to the spec, message)."""
        if self.mode == Mode.smoke and not self.trainer.base_config:
            return [(("trainer", "baseConfig"), SMOKE_DEMO_WARNING)]
        return memory_checks.warnings(self)


class ObjectMeta(WireModel):
    """The part of metadata tunesweep reads; everything else is passed through."""

    model_config = WireModel.model_config | {"extra": "allow"}
    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0


class TuningSweep(WireModel):
    """A hyperparameter sweep of LLM fine-tuning, run by Ray Tune on KubeRay; the best trial's config
    is promoted to a ConfigMap, with evidence for every trial in the evidence bucket."""

    api_version: str = API_VERSION
    kind: str = KIND
    metadata: ObjectMeta
    spec: TuningSweepSpec


# ---- status (written by the operator; the CRD checks its shape only) ----


class StatusModel(WireModel):
    """Status is read back by whichever operator release runs now: after a rollback, fields that a
    newer release wrote must not make the older one fail to parse the status it then rewrites."""

    model_config = WireModel.model_config | {"extra": "ignore"}


class Phase(StrEnum):
    pending = "Pending"
    provisioning = "Provisioning"
    running = "Running"
    promoting = "Promoting"
    succeeded = "Succeeded"
    failed = "Failed"


class Condition(StatusModel):
    """A metav1.Condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    """`True`, `False` or `Unknown`."""
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int = 0


class RayJobStatus(StatusModel):
    """The KubeRay RayJob running the sweep driver."""

    name: str = ""
    ray_cluster: str = ""
    dashboard_url: str = Field("", alias="dashboardURL")
    job_deployment_status: str = ""
    job_status: str = ""


class TrialCounts(StatusModel):
    planned: int = 0
    """Trials the sweep runs in all (trials.count, times the grid)."""
    concurrent: int = 0
    """Trials that can run at once: one per trial Pod, at most trials.parallel."""
    queued: int = 0
    """Planned trials not started yet."""
    total: int = 0
    """Trials started so far (in the driver's sweep_summary.json)."""
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    early_stopped: int = 0


class BestTrial(StatusModel):
    id: str
    params: dict[str, Any] = Field(default_factory=dict)
    """The sampled values, by searchSpace path."""
    primary_score: float | None = None
    """Its answer correctness on the eval set, which chose it; absent when no trial was scorable
    (smoke mode only)."""
    test_score: float | None = None
    """Its answer correctness on the held-out test slice, which no decision used; absent without one."""


class BudgetStatus(StatusModel):
    """spec.budget's spend, from the driver's sweep_summary.json."""

    unit: str = ""
    """`GPU-hours`, `TPU chip-hours` or `CPU core-hours`."""
    limit: float | None = None
    """spec.budget.acceleratorHours; absent when only wall time is limited."""
    spent: float = 0.0
    """What the trials spent so far: each trial's chips (or CPU cores) times the hours it held them."""
    left: float | None = None
    """limit - spent (never below 0); absent without a limit."""
    wall_seconds_used: float = 0.0
    """Seconds since the sweep's driver started."""
    spent_of_limit: str = ""
    """The spend at a glance, e.g. `1.2/4 GPU-h` (the `Spent` column of `kubectl get`)."""


class Promoted(StatusModel):
    config_map: str = ""
    evidence_uri: str = Field("", alias="evidenceURI")


class TuningSweepStatus(StatusModel):
    """What the operator observed; written through the status subresource only."""

    phase: Phase = Phase.pending
    """Pending, Provisioning, Running, Promoting, Succeeded or Failed."""
    observed_generation: int = 0
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    evidence_uri: str = Field("", alias="evidenceURI")
    """The sweep's own evidence folder (`<uri>/<namespace>/<name>/<uid>`)."""
    ray_job: RayJobStatus | None = None
    trials: TrialCounts = Field(default_factory=TrialCounts)
    best_trial: BestTrial | None = None
    budget: BudgetStatus | None = None
    """spec.budget's spend; absent without a budget."""
    promoted: Promoted | None = None
    start_time: str | None = None
    completion_time: str | None = None
