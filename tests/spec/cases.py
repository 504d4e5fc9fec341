"""TuningSweep manifests for the spec tests: one good base, good variants, and bad ones that each
have exactly one problem (so the API server, which skips CEL rules once the schema fails, reports
that one too)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from tunesweep_evidence import evidence_uri
from tunesweep_evidence.spec import (
    API_VERSION,
    BASE_CONFIG_MESSAGE,
    BUDGET_NEEDS_A_LIMIT,
    KIND,
    OBJECTIVE_MESSAGE,
    PBT_ALONE,
    PBT_BACKENDS,
    PBT_CHECKPOINTS,
    PBT_PARAMS,
    PBT_POPULATION,
    WARM_START_ONE_OF,
    WARM_START_TPE,
    SearchDimension,
)
from tunesweep_evidence.sweep_manifest import path_text
from tunesweep_evidence.training_config import MODEL_PRESETS

BASE: dict[str, Any] = {
    "apiVersion": API_VERSION,
    "kind": KIND,
    "metadata": {"name": "spec-test"},
    "spec": {
        "trainer": {"backend": "mock", "baseConfig": {"training": {"max_steps": 100}}},
        "searchSpace": {
            "training.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]},
            "training.per_device_batch_size": {"choice": [16, 32]},
        },
        "trials": {"count": 4, "parallel": 2},
        "evidence": {"uri": "s3://bucket/prefix"},
    },
}

TRIALS_DEFAULT = {
    "count": 8,
    "parallel": 2,
    "maxFailed": 0,
    "timeoutSeconds": 3600,
    "maxRestarts": 3,
    "checkpoints": {"keep": 2},
}
"""spec.trials as the API server stores it when a sweep leaves it out (the CRD's defaults)."""

DROP = object()
"""An edit value that removes the key."""


@dataclass(frozen=True)
class Edit:
    at: str
    """Dotted path of the mapping to change (segments never hold dots; keys that do go in `values`)."""
    values: dict[str, Any]


def at(path: str, **values: Any) -> Edit:
    return Edit(path, values)


def with_edits(*edits: Edit) -> dict[str, Any]:
    manifest = copy.deepcopy(BASE)
    for edit in edits:
        node = manifest
        for key in edit.at.split("."):
            node = node.setdefault(key, {})
        for key, value in edit.values.items():
            if value is DROP:
                node.pop(key, None)
            else:
                node[key] = value
    return manifest


SAME = "<the same message>"


@dataclass(frozen=True)
class Bad:
    id: str
    edits: tuple[Edit, ...]
    path: str
    """The problem's field path, as `tunesweep validate` prints it."""
    message: str
    """Part of the problem's message."""
    server: str | None
    """Part of the API server's refusal (SAME: `message`); None when only Python can tell."""

    def manifest(self) -> dict[str, Any]:
        return with_edits(*self.edits)

    def server_message(self) -> str | None:
        return self.message if self.server == SAME else self.server


def bad(id: str, edits: Edit | tuple[Edit, ...], path: str, message: str, server: str | None) -> Bad:
    return Bad(id, edits if isinstance(edits, tuple) else (edits,), path, message, server)


LR = 'spec.searchSpace["training.learning_rate"]'
DECAY = "training.weight_decay"
SPACE = "spec.searchSpace"
ONE_OF = "give exactly one distribution"
TPE = at("spec.algorithm", name="tpe")
PBT = at("spec.algorithm", name="pbt", perturbationInterval=25)
PBT_GOOD = (
    PBT,
    at(SPACE, **{"training.per_device_batch_size": DROP, DECAY: {"uniform": [0, 0.1]}}),
    at("spec.trials", count=4, parallel=4),
)

BAD: list[Bad] = [
    # search space: distributions
    bad(
        "loguniform-low-zero",
        at(SPACE, **{"training.learning_rate": {"loguniform": [0, 1.0e-2]}}),
        f"{LR}.loguniform",
        "loguniform needs [low, high] with 0 < low < high",
        SAME,
    ),
    bad(
        "loguniform-reversed",
        at(SPACE, **{"training.learning_rate": {"loguniform": [1.0e-2, 1.0e-4]}}),
        f"{LR}.loguniform",
        "0 < low < high",
        SAME,
    ),
    bad(
        "loguniform-three-bounds",
        at(SPACE, **{"training.learning_rate": {"loguniform": [1.0e-4, 1.0e-3, 1.0e-2]}}),
        f"{LR}.loguniform",
        "List should have at most 2 items",
        "must have at most 2 items",
    ),
    bad(
        "uniform-reversed",
        at(SPACE, **{DECAY: {"uniform": [0.1, 0.0]}}),
        f'{SPACE}["{DECAY}"].uniform',
        "uniform needs [low, high] with low < high",
        SAME,
    ),
    bad(
        "randint-empty-range",
        at(SPACE, **{"training.warmup_steps": {"randint": [10, 10]}}),
        f'{SPACE}["training.warmup_steps"].randint',
        "randint needs [low, high) with low < high",
        SAME,
    ),
    bad(
        "randint-floats",
        at(SPACE, **{"training.warmup_steps": {"randint": [1.5, 10]}}),
        f'{SPACE}["training.warmup_steps"].randint[0]',
        "valid integer",
        "must be of type integer",
    ),
    bad(
        "two-distributions",
        at(SPACE, **{DECAY: {"uniform": [0.0, 0.1], "choice": [0.1]}}),
        f'{SPACE}["{DECAY}"]',
        ONE_OF,
        "must have at most 1 item",
    ),
    bad(
        "no-distribution",
        at(SPACE, **{DECAY: {}}),
        f'{SPACE}["{DECAY}"]',
        ONE_OF,
        "should have at least 1 properties",
    ),
    bad(
        "unknown-distribution",
        at(SPACE, **{DECAY: {"normal": [0.0, 0.1]}}),
        f'{SPACE}["{DECAY}"].normal',
        "unknown field; known fields: loguniform, uniform, randint, choice, grid",
        'unknown field "spec.searchSpace.training.weight_decay.normal"',
    ),
    bad(
        "choice-empty",
        at(SPACE, **{DECAY: {"choice": []}}),
        f'{SPACE}["{DECAY}"].choice',
        "List should have at least 1 item",
        "should have at least 1 items",
    ),
    bad(
        "choice-too-many",
        at(SPACE, **{"training.max_steps": {"choice": list(range(1, 66))}}),
        f'{SPACE}["training.max_steps"].choice',
        "List should have at most 64 items",
        "must have at most 64 items",
    ),
    bad(
        "grid-empty",
        at(SPACE, **{DECAY: {"grid": []}}),
        f'{SPACE}["{DECAY}"].grid',
        "List should have at least 1 item",
        "should have at least 1 items",
    ),
    bad(
        "grid-duplicates",
        at(SPACE, **{"training.max_steps": {"grid": [100, 200, 100.0]}}),
        f'{SPACE}["training.max_steps"].grid',
        "grid values must be distinct",
        None,
    ),
    bad(
        "search-space-empty",
        at("spec", searchSpace={}),
        SPACE,
        "Dictionary should have at least 1 item",
        "should have at least 1 properties",
    ),
    bad("search-space-missing", at("spec", searchSpace=DROP), SPACE, "Field required", "Required value"),
    bad(
        "search-space-too-big",
        at("spec", searchSpace={f"model.x{i}": {"choice": [1]} for i in range(33)}),
        SPACE,
        "Dictionary should have at most 32 items",
        "must have at most 32 items",
    ),
    # search space against the training config (Python only)
    bad(
        "unknown-path",
        at(SPACE, **{"training.lr": {"choice": [0.1]}}),
        f'{SPACE}["training.lr"]',
        "unknown path; known keys under training: learning_rate, per_device_batch_size",
        None,
    ),
    bad(
        "unknown-section",
        at(SPACE, **{"optimizer.lr": {"choice": [0.1]}}),
        f'{SPACE}["optimizer.lr"]',
        "unknown path; known keys under baseConfig: model, training, data, eval",
        None,
    ),
    bad(
        "path-below-a-value",
        at(SPACE, **{"training.max_steps.x": {"choice": [1]}}),
        f'{SPACE}["training.max_steps.x"]',
        "training.max_steps is a value, not a section",
        None,
    ),
    bad(
        "choice-string-for-int",
        at(SPACE, **{"training.per_device_batch_size": {"choice": ["16", 32]}}),
        f'{SPACE}["training.per_device_batch_size"].choice[0]',
        '"16" is not a valid training.per_device_batch_size: Input should be a valid integer',
        None,
    ),
    bad(
        "choice-bool-for-int",
        at(SPACE, **{"training.warmup_steps": {"choice": [5, True]}}),
        f'{SPACE}["training.warmup_steps"].choice[1]',
        "true is not a valid training.warmup_steps",
        None,
    ),
    bad(
        "grid-number-for-string",
        at(SPACE, **{"model.name": {"grid": ["tiny", 7]}}),
        f'{SPACE}["model.name"].grid[1]',
        "7 is not a valid model.name: Input should be a valid string",
        None,
    ),
    bad(
        "uniform-for-int",
        at(SPACE, **{"training.max_steps": {"uniform": [50, 100]}}),
        f'{SPACE}["training.max_steps"].uniform',
        "uniform samples floats, but training.max_steps takes integers: use randint or choice",
        None,
    ),
    bad(
        "loguniform-for-string",
        at(SPACE, **{"data.train": {"loguniform": [1.0, 2.0]}}),
        f'{SPACE}["data.train"].loguniform',
        "loguniform samples numbers, but data.train does not take them",
        None,
    ),
    # the evaluation protocol is fixed for a sweep (Python only)
    *(
        bad(
            f"search-over-{path}",
            at(SPACE, **{path: dimension}),
            path_text(("spec", "searchSpace", path)),
            "the evaluation protocol is fixed for a sweep: every trial is scored on the same eval, test "
            f"and rung examples, judged the same way, so {what} cannot be searched; put it in "
            "trainer.baseConfig instead",
            None,
        )
        for path, dimension, what in (
            ("data.eval_size", {"choice": [1, 100]}, "data.eval_size"),
            ("data.seed", {"randint": [0, 4]}, "data.seed"),
            ("data.prompt_template", {"choice": ["Q: {prompt}\n"]}, "data.prompt_template"),
            ("eval.max_generation_steps", {"choice": [8, 64]}, "eval.max_generation_steps"),
            ("data", {"choice": [{"train": "builtin:arithmetic"}]}, "data (it holds data.eval)"),
        )
    ),
    # sampled values against the training config's own limits (Python only)
    bad(
        "choice-below-field-minimum",
        at(SPACE, **{"training.max_steps": {"choice": [0, 10]}}),
        f'{SPACE}["training.max_steps"].choice[0]',
        "0 is not a valid training.max_steps: Input should be greater than or equal to 1",
        None,
    ),
    bad(
        "uniform-reaching-below-zero",
        at(SPACE, **{"training.learning_rate": {"uniform": [-1.0e-3, 1.0e-2]}}),
        f"{LR}.uniform[0]",
        "uniform low -0.001 is outside training.learning_rate's limits: Input should be greater than 0",
        None,
    ),
    bad(
        "randint-above-field-maximum",
        at(SPACE, **{"training.per_device_batch_size": {"randint": [16, 65538]}}),
        f'{SPACE}["training.per_device_batch_size"].randint[1]',
        "randint high 65538 is outside training.per_device_batch_size's limits (high is exclusive: the "
        "largest value sampled is 65537): Input should be less than or equal to 65536",
        None,
    ),
    bad(
        "grid-above-field-maximum",
        at(SPACE, **{"training.learning_rate": {"grid": [0.5, 2.0]}}),
        f"{LR}.grid[1]",
        "2.0 is not a valid training.learning_rate: Input should be less than or equal to 1",
        None,
    ),
    bad(
        "choice-outside-literal",
        at(SPACE, **{"model.dtype": {"choice": ["float32", "float16"]}}),
        f'{SPACE}["model.dtype"].choice[1]',
        "\"float16\" is not a valid model.dtype: Input should be 'float32' or 'bfloat16'",
        None,
    ),
    # baseConfig against the training config (Python only)
    bad(
        "production-without-base-config",
        at("spec.trainer", baseConfig=DROP),
        "spec.trainer.baseConfig",
        BASE_CONFIG_MESSAGE,
        None,
    ),
    bad(
        "base-config-unknown-key",
        at("spec.trainer.baseConfig.training", lr=0.1),
        "spec.trainer.baseConfig.training.lr",
        "unknown key; known keys under training: learning_rate",
        None,
    ),
    bad(
        "base-config-unknown-section",
        at("spec.trainer.baseConfig", optimizer={"name": "adamw"}),
        "spec.trainer.baseConfig.optimizer",
        "unknown key; known keys under baseConfig: model, training, data, eval",
        None,
    ),
    bad(
        "base-config-unknown-lora-key",
        at("spec.trainer.baseConfig.model", lora={"r": 8}),
        "spec.trainer.baseConfig.model.lora.r",
        "unknown key; known keys under model.lora: rank, alpha, target_modules",
        None,
    ),
    bad(
        "base-config-unknown-model-preset",
        at("spec.trainer.baseConfig.model", name="gemma-tiny"),
        "spec.trainer.baseConfig.model.name",
        f"'gemma-tiny' is not a model preset; known presets: {', '.join(MODEL_PRESETS)}",
        None,
    ),
    bad(
        "search-over-an-unknown-model-preset",
        at(SPACE, **{"model.name": {"choice": ["tiny", "gemma-2-2b-instruct"]}}),
        f'{SPACE}["model.name"].choice[1]',
        "\"gemma-2-2b-instruct\" is not a valid model.name: 'gemma-2-2b-instruct' is not a model preset; "
        "known presets: tiny, gemma-2b,",
        None,
    ),
    bad(
        "base-config-wrong-type",
        at("spec.trainer.baseConfig.training", max_steps="many"),
        "spec.trainer.baseConfig.training.max_steps",
        "Input should be a valid integer",
        None,
    ),
    bad(
        "base-config-out-of-range",
        at("spec.trainer.baseConfig.training", weight_decay=2.0),
        "spec.trainer.baseConfig.training.weight_decay",
        "Input should be less than or equal to 1",
        None,
    ),
    # trainer, objective, algorithm, early stopping
    bad(
        "image-with-space",
        at("spec.trainer", image="registry.example/trainer :1.0"),
        "spec.trainer.image",
        "must be an OCI image reference without spaces",
        "should match",
    ),
    bad(
        "image-uppercase-repository",
        at("spec.trainer", image="registry.example/Team/Trainer:1.0"),
        "spec.trainer.image",
        "must be an OCI image reference",
        "should match",
    ),
    bad(
        "backend-unknown",
        at("spec.trainer", backend="pytorch"),
        "spec.trainer.backend",
        "Input should be 'flax-lm', 'mock', 'python' or 'command'",
        'Unsupported value: "pytorch"',
    ),
    bad(
        "python-without-entrypoint",
        at("spec.trainer", backend="python"),
        "spec.trainer.entrypoint",
        "backend python needs trainer.entrypoint",
        SAME,
    ),
    bad(
        "command-without-command",
        at("spec.trainer", backend="command"),
        "spec.trainer.command",
        "backend command needs trainer.command",
        SAME,
    ),
    bad(
        "entrypoint-without-python",
        at("spec.trainer", entrypoint="my_pkg.train:run"),
        "spec.trainer.entrypoint",
        "trainer.entrypoint is read by backend python only",
        SAME,
    ),
    bad(
        "command-without-backend-command",
        at("spec.trainer", command=["my-trainer", "--fast"]),
        "spec.trainer.command",
        "trainer.command is read by backend command only",
        SAME,
    ),
    bad(
        "entrypoint-not-a-function",
        at("spec.trainer", backend="python", entrypoint="my_pkg.train"),
        "spec.trainer.entrypoint",
        "must be a Python function as `module.path:function`",
        "should match",
    ),
    bad(
        "mode-unknown",
        at("spec", mode="fast"),
        "spec.mode",
        "Input should be 'production' or 'smoke'",
        'Unsupported value: "fast"',
    ),
    bad(
        "objective-another-metric",
        at("spec.objective", metric="loss"),
        "spec.objective.metric",
        OBJECTIVE_MESSAGE,
        'Unsupported value: "loss": supported values: "primary_score"',
    ),
    bad(
        "objective-mode-min",
        at("spec.objective", mode="min"),
        "spec.objective.mode",
        OBJECTIVE_MESSAGE,
        'Unsupported value: "min": supported values: "max"',
    ),
    bad(
        "objective-mode-unknown",
        at("spec.objective", mode="maximize"),
        "spec.objective.mode",
        OBJECTIVE_MESSAGE,
        'Unsupported value: "maximize"',
    ),
    bad(
        "algorithm-unknown",
        at("spec.algorithm", name="bayes"),
        "spec.algorithm.name",
        "Input should be 'random', 'grid', 'tpe' or 'pbt'",
        'Unsupported value: "bayes"',
    ),
    bad(
        "algorithm-seed-negative",
        at("spec.algorithm", seed=-1),
        "spec.algorithm.seed",
        "greater than or equal to 0",
        "should be greater than or equal to 0",
    ),
    bad(
        "grid-with-loguniform",
        at("spec.algorithm", name="grid"),
        SPACE,
        "algorithm grid enumerates values: every searchSpace entry must use grid or choice",
        SAME,
    ),
    bad(
        "tpe-with-grid",
        (at("spec.algorithm", name="tpe"), at(SPACE, **{DECAY: {"grid": [0.0, 0.1]}})),
        SPACE,
        "algorithm tpe (Optuna) or pbt cannot enumerate a grid",
        None,
    ),
    bad(
        "asha-reduction-factor-one",
        at("spec.earlyStopping", name="asha", reductionFactor=1),
        "spec.earlyStopping.reductionFactor",
        "greater than or equal to 2",
        "should be greater than or equal to 2",
    ),
    bad(
        "asha-grace-period-past-max-steps",
        at("spec.earlyStopping", name="asha", gracePeriod=100),
        "spec.earlyStopping.gracePeriod",
        "earlyStopping.gracePeriod 100 is not below the longest trial (100 steps, training.max_steps), "
        "so no trial would ever reach a rung; lower it",
        None,
    ),
    bad(
        "asha-grace-period-zero",
        at("spec.earlyStopping", name="asha", gracePeriod=0),
        "spec.earlyStopping.gracePeriod",
        "greater than or equal to 1",
        "should be greater than or equal to 1",
    ),
    bad(
        "early-stopping-unknown",
        at("spec.earlyStopping", name="median"),
        "spec.earlyStopping.name",
        "Input should be 'none' or 'asha'",
        'Unsupported value: "median"',
    ),
    # trials
    bad(
        "parallel-above-count",
        (
            at("spec.trials", count=2, parallel=3),
            at(SPACE, **{"training.per_device_batch_size": {"randint": [16, 33]}}),
        ),
        "spec.trials.parallel",
        "trials.parallel must be at most the trials planned",
        SAME,
    ),
    bad(
        # CEL cannot count grid values: the API server lets this through, the operator refuses it
        "parallel-above-grid-trials",
        (
            at("spec.trials", count=1, parallel=3),
            at(SPACE, **{"training.per_device_batch_size": {"grid": [16, 32]}}),
        ),
        "spec.trials.parallel",
        "trials.parallel must be at most the trials planned",
        None,
    ),
    bad(
        "count-zero",
        at("spec.trials", count=0),
        "spec.trials.count",
        "greater than or equal to 1",
        "should be greater than or equal to 1",
    ),
    bad(
        "timeout-zero",
        at("spec.trials", timeoutSeconds=0),
        "spec.trials.timeoutSeconds",
        "greater than or equal to 1",
        "should be greater than or equal to 1",
    ),
    bad(
        "misspelt-field",
        at("spec.trials", paralel=3),
        "spec.trials.paralel",
        "unknown field; known fields: count, parallel, maxFailed, timeoutSeconds, maxRestarts, checkpoints",
        'unknown field "spec.trials.paralel"',
    ),
    bad(
        "negative-restarts",
        at("spec.trials", maxRestarts=-1),
        "spec.trials.maxRestarts",
        "greater than or equal to 0",
        "should be greater than or equal to 0",
    ),
    bad(
        "checkpoints-every-zero-steps",
        at("spec.trials.checkpoints", everySteps=0),
        "spec.trials.checkpoints.everySteps",
        "greater than or equal to 1",
        "should be greater than or equal to 1",
    ),
    bad(
        "negative-checkpoints-kept",
        at("spec.trials.checkpoints", keep=-2),
        "spec.trials.checkpoints.keep",
        "greater than or equal to 0",
        "should be greater than or equal to 0",
    ),
    # resources
    bad(
        "gpu-without-count",
        at("spec.resources.perTrial", accelerator="nvidia.com/gpu"),
        "spec.resources.perTrial.count",
        "count must be 0 when accelerator is none, and at least 1 otherwise",
        SAME,
    ),
    bad(
        "count-without-accelerator",
        at("spec.resources.perTrial", count=2),
        "spec.resources.perTrial.count",
        "count must be 0 when accelerator is none",
        SAME,
    ),
    bad(
        "accelerator-unknown",
        at("spec.resources.perTrial", accelerator="amd.com/gpu", count=1),
        "spec.resources.perTrial.accelerator",
        "Input should be 'none', 'nvidia.com/gpu' or 'google.com/tpu'",
        'Unsupported value: "amd.com/gpu"',
    ),
    bad(
        "tpu-missing",
        at("spec.resources.perTrial", accelerator="google.com/tpu", count=4),
        "spec.resources.tpu",
        "tpu (acceleratorType, topology) is required when perTrial.accelerator is google.com/tpu",
        SAME,
    ),
    bad(
        "tpu-without-tpu-accelerator",
        at("spec.resources", tpu={"acceleratorType": "tpu-v6e-slice", "topology": "2x2"}),
        "spec.resources.tpu",
        "tpu is only used with perTrial.accelerator google.com/tpu",
        SAME,
    ),
    bad(
        "tpu-topology-malformed",
        (
            at("spec.resources.perTrial", accelerator="google.com/tpu", count=4),
            at("spec.resources", tpu={"acceleratorType": "tpu-v6e-slice", "topology": "2by2"}),
        ),
        "spec.resources.tpu.topology",
        "String should match pattern",
        "should match",
    ),
    bad(
        "tpu-accelerator-type-missing",
        (
            at("spec.resources.perTrial", accelerator="google.com/tpu", count=4),
            at("spec.resources", tpu={"topology": "2x2"}),
        ),
        "spec.resources.tpu.acceleratorType",
        "Field required",
        "Required value",
    ),
    bad(
        "cpu-zero",
        at("spec.resources.perTrial", cpu="0"),
        "spec.resources.perTrial.cpu",
        "cpu must be a positive Kubernetes quantity, e.g. 4 or 500m",
        SAME,
    ),
    bad(
        "memory-zero",
        at("spec.resources.perTrial", memory="0Gi"),
        "spec.resources.perTrial.memory",
        "memory must be a positive Kubernetes quantity, e.g. 16Gi",
        SAME,
    ),
    bad(
        "memory-not-a-quantity",
        at("spec.resources.perTrial", memory="lots"),
        "spec.resources.perTrial.memory",
        "memory must be a positive Kubernetes quantity",
        SAME,
    ),
    bad(
        "cpu-negative",
        at("spec.resources.perTrial", cpu=-1),
        "spec.resources.perTrial.cpu",
        "cpu must be a positive Kubernetes quantity",
        SAME,
    ),
    bad(
        "queue-name-invalid",
        at("spec.resources", queueName="Team_A"),
        "spec.resources.queueName",
        "must be a DNS-1123 label",
        "should match",
    ),
    bad(
        "workers-negative",
        at("spec.resources.workers", replicas=-1),
        "spec.resources.workers.replicas",
        "greater than or equal to 0",
        "should be greater than or equal to 0",
    ),
    bad(
        "toleration-operator-unknown",
        at("spec.resources.workers", tolerations=[{"key": "a", "operator": "Maybe"}]),
        "spec.resources.workers.tolerations[0].operator",
        "Input should be 'Exists' or 'Equal'",
        'Unsupported value: "Maybe"',
    ),
    bad(
        "node-selector-not-string",
        at("spec.resources.workers", nodeSelector={"pool": 3}),
        "spec.resources.workers.nodeSelector.pool",
        "Input should be a valid string",
        "must be of type string",
    ),
    bad(
        "node-selector-key-invalid",
        at("spec.resources.workers", nodeSelector={"pool name!": "tpu"}),
        "spec.resources.workers.nodeSelector",
        "nodeSelector keys must be Kubernetes label keys",
        SAME,
    ),
    bad(
        "node-selector-key-prefix-invalid",
        at("spec.resources.workers", nodeSelector={"Example.COM/pool": "tpu"}),
        "spec.resources.workers.nodeSelector",
        "nodeSelector keys must be Kubernetes label keys",
        SAME,
    ),
    bad(
        "node-selector-value-invalid",
        at("spec.resources.workers", nodeSelector={"pool": "tpu pool"}),
        "spec.resources.workers.nodeSelector.pool",
        "must be a Kubernetes label value",
        "should match",
    ),
    bad(
        "toleration-key-invalid",
        at("spec.resources.workers", tolerations=[{"key": "-spot", "operator": "Exists"}]),
        "spec.resources.workers.tolerations",
        "toleration keys must be Kubernetes label keys",
        SAME,
    ),
    bad(
        "overlay-node-selector-key-invalid",
        at("spec.resources.headPodTemplate.spec", nodeSelector={"pool name!": "cpu"}),
        "spec.resources.headPodTemplate.spec.nodeSelector",
        "nodeSelector keys must be Kubernetes label keys",
        SAME,
    ),
    bad(
        "overlay-toleration-key-invalid",
        at("spec.resources.workerPodTemplate.spec", tolerations=[{"key": "a/b/c", "operator": "Exists"}]),
        "spec.resources.workerPodTemplate.spec.tolerations",
        "toleration keys must be Kubernetes label keys",
        SAME,
    ),
    bad(
        "tpu-topology-not-offered",
        (
            at("spec.resources.perTrial", accelerator="google.com/tpu", count=4),
            at("spec.resources", tpu={"acceleratorType": "tpu-v6e-slice", "topology": "2x2x1"}),
        ),
        "spec.resources.tpu.topology",
        "topology 2x2x1 does not exist for tpu-v6e-slice: choose one GKE offers",
        None,
    ),
    bad(
        "tpu-count-not-the-slice",
        (
            at("spec.resources.perTrial", accelerator="google.com/tpu", count=4),
            at("spec.resources", tpu={"acceleratorType": "tpu-v5-lite-podslice", "topology": "2x4"}),
        ),
        "spec.resources.perTrial.count",
        "set count to 8",
        None,
    ),
    # evidence and promotion
    bad(
        "evidence-dot-segments",
        at("spec.evidence", uri="file:///tmp/../../etc"),
        "spec.evidence.uri",
        evidence_uri.SEGMENTS_MESSAGE,
        SAME,
    ),
    bad(
        "evidence-empty-segment",
        at("spec.evidence", uri="s3://bucket/team-a//sweeps"),
        "spec.evidence.uri",
        evidence_uri.SEGMENTS_MESSAGE,
        SAME,
    ),
    bad(
        "evidence-credentials-in-uri",
        at("spec.evidence", uri="s3://key:secret@bucket/prefix"),
        "spec.evidence.uri",
        evidence_uri.SECRETS_MESSAGE,
        SAME,
    ),
    bad(
        "evidence-query-string",
        at("spec.evidence", uri="s3://bucket/prefix?X-Amz-Credential=abc"),
        "spec.evidence.uri",
        evidence_uri.SECRETS_MESSAGE,
        SAME,
    ),
    bad(
        "evidence-bucket-ip",
        at("spec.evidence", uri="s3://10.0.0.1/prefix"),
        "spec.evidence.uri",
        evidence_uri.BUCKET_MESSAGE,
        SAME,
    ),
    bad(
        "evidence-bucket-uppercase",
        at("spec.evidence", uri="gs://My-Bucket/prefix"),
        "spec.evidence.uri",
        evidence_uri.BUCKET_MESSAGE,
        SAME,
    ),
    bad(
        "evidence-bucket-too-short",
        at("spec.evidence", uri="s3://ab"),
        "spec.evidence.uri",
        evidence_uri.BUCKET_MESSAGE,
        SAME,
    ),
    bad(
        "evidence-http",
        at("spec.evidence", uri="http://bucket/prefix"),
        "spec.evidence.uri",
        "uri must be file:///<absolute folder>, s3://<bucket>[/prefix] or gs://<bucket>[/prefix]",
        SAME,
    ),
    bad(
        "evidence-no-bucket",
        at("spec.evidence", uri="s3:///prefix"),
        "spec.evidence.uri",
        "uri must be",
        SAME,
    ),
    bad(
        "evidence-relative-file",
        at("spec.evidence", uri="file://evidence"),
        "spec.evidence.uri",
        "uri must be",
        SAME,
    ),
    bad(
        "credentials-for-file",
        at("spec.evidence", uri="file:///tmp/evidence", credentialsSecret="creds"),
        "spec.evidence.credentialsSecret",
        "credentialsSecret is only used with s3:// or gs:// uris",
        SAME,
    ),
    bad(
        "credentials-name-invalid",
        at("spec.evidence", credentialsSecret="Bad_Name"),
        "spec.evidence.credentialsSecret",
        "must be a DNS-1123 subdomain",
        "should match",
    ),
    bad(
        "min-score-above-one",
        at("spec.promotion", minScore=1.5),
        "spec.promotion.minScore",
        "Input should be less than or equal to 1",
        "should be less than or equal to 1",
    ),
    bad(
        "config-map-name-invalid",
        at("spec.promotion", configMapName="Best!"),
        "spec.promotion.configMapName",
        "must be a DNS-1123 subdomain",
        "should match",
    ),
    # population based training
    bad(
        "pbt-searches-the-batch-size",
        (PBT, at("spec.trials", parallel=4)),
        SPACE,
        PBT_PARAMS,
        SAME,
    ),
    bad(
        "pbt-with-asha",
        (*PBT_GOOD, at("spec.earlyStopping", name="asha", gracePeriod=2)),
        "spec.earlyStopping.name",
        PBT_ALONE,
        SAME,
    ),
    bad(
        "pbt-without-checkpoints",
        (*PBT_GOOD, at("spec.trials.checkpoints", keep=0)),
        "spec.trials.checkpoints.keep",
        PBT_CHECKPOINTS,
        SAME,
    ),
    bad(
        "pbt-custom-trainer",
        (
            *PBT_GOOD,
            at(
                "spec.trainer",
                backend="python",
                entrypoint="my_pkg.train:run",
                baseConfig={"training": {"max_steps": 100, "learning_rate": 1e-3, "weight_decay": 0.0}},
            ),
        ),
        "spec.trainer.backend",
        PBT_BACKENDS,
        SAME,
    ),
    bad(
        "pbt-half-the-population-at-once",
        (*PBT_GOOD, at("spec.trials", parallel=2)),
        "spec.trials.parallel",
        PBT_POPULATION,
        SAME,
    ),
    bad(
        "pbt-interval-past-the-last-step",
        (*PBT_GOOD, at("spec.algorithm", perturbationInterval=100)),
        "spec.algorithm.perturbationInterval",
        "is not below the longest trial (100 steps, training.max_steps), so no trial would ever be perturbed",
        None,
    ),
    # warm start
    bad(
        "warm-start-with-random",
        at("spec", warmStart=[{"sweep": "earlier"}]),
        "spec.warmStart",
        WARM_START_TPE,
        SAME,
    ),
    bad(
        "warm-start-both-sources",
        (TPE, at("spec", warmStart=[{"sweep": "earlier", "evidenceURI": "s3://bucket/prefix/earlier"}])),
        "spec.warmStart[0]",
        WARM_START_ONE_OF,
        "must have at most 1 item",
    ),
    bad(
        "warm-start-no-source",
        (TPE, at("spec", warmStart=[{}])),
        "spec.warmStart[0]",
        WARM_START_ONE_OF,
        "should have at least 1 properties",
    ),
    bad(
        "warm-start-empty",
        (TPE, at("spec", warmStart=[])),
        "spec.warmStart",
        "List should have at least 1 item",
        "should have at least 1 items",
    ),
    bad(
        "warm-start-too-many",
        (TPE, at("spec", warmStart=[{"sweep": f"earlier-{i}"} for i in range(9)])),
        "spec.warmStart",
        "List should have at most 8 items",
        "must have at most 8 items",
    ),
    bad(
        "warm-start-dot-segments",
        (TPE, at("spec", warmStart=[{"evidenceURI": "s3://bucket/team-a/../team-b"}])),
        "spec.warmStart[0].evidenceURI",
        evidence_uri.SEGMENTS_MESSAGE,
        SAME,
    ),
    bad(
        "warm-start-uri-credentials",
        (TPE, at("spec", warmStart=[{"evidenceURI": "s3://key:secret@bucket/prefix"}])),
        "spec.warmStart[0].evidenceURI",
        evidence_uri.SECRETS_MESSAGE,
        SAME,
    ),
    bad(
        "warm-start-uri-bucket",
        (TPE, at("spec", warmStart=[{"evidenceURI": "gs://My-Bucket/prefix"}])),
        "spec.warmStart[0].evidenceURI",
        evidence_uri.BUCKET_MESSAGE,
        SAME,
    ),
    bad(
        "warm-start-uri-http",
        (TPE, at("spec", warmStart=[{"evidenceURI": "http://bucket/prefix"}])),
        "spec.warmStart[0].evidenceURI",
        evidence_uri.FORM_MESSAGE,
        SAME,
    ),
    bad(
        "warm-start-sweep-name",
        (TPE, at("spec", warmStart=[{"sweep": "Earlier_Sweep"}])),
        "spec.warmStart[0].sweep",
        "must be a TuningSweep's name",
        "should match",
    ),
    bad(
        "ttl-negative",
        at("spec", ttlSecondsAfterFinished=-1),
        "spec.ttlSecondsAfterFinished",
        "greater than or equal to 0",
        "should be greater than or equal to 0",
    ),
    bad("budget-without-a-limit", at("spec", budget={}), "spec.budget", BUDGET_NEEDS_A_LIMIT, SAME),
    bad(
        "budget-hours-zero",
        at("spec.budget", acceleratorHours=0),
        "spec.budget.acceleratorHours",
        "Input should be greater than 0",
        "should be greater than 0",
    ),
    bad(
        "budget-wall-seconds-fraction",
        at("spec.budget", wallSeconds=1.5),
        "spec.budget.wallSeconds",
        "valid integer",
        "must be of type integer",
    ),
]

GOOD: dict[str, tuple[Edit, ...]] = {
    "base": (),
    "budget-hours": (at("spec.budget", acceleratorHours=0.25),),
    "budget-wall-time": (at("spec.budget", wallSeconds=600),),
    "budget-both": (
        at("spec.resources.perTrial", accelerator="nvidia.com/gpu", count=2, cpu=4, memory="16Gi"),
        at("spec.budget", acceleratorHours=12, wallSeconds=7200),
    ),
    "gpu": (at("spec.resources.perTrial", accelerator="nvidia.com/gpu", count=1, cpu=4, memory="16Gi"),),
    "tpu": (
        at("spec.resources.perTrial", accelerator="google.com/tpu", count=4, cpu="8", memory="64Gi"),
        at("spec.resources", tpu={"acceleratorType": "tpu-v6e-slice", "topology": "2x2"}, queueName="team-a"),
        at(
            "spec.resources.workers",
            nodeSelector={"cloud.google.com/gke-spot": "true"},
            tolerations=[{"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}],
        ),
    ),
    "grid-more-parallel-than-count": (
        at("spec.algorithm", name="grid"),
        at(
            "spec",
            searchSpace={
                "training.max_steps": {"grid": [50, 100, 200]},
                "model.max_length": {"choice": [32, 64]},
            },
        ),
        at("spec.trials", count=1, parallel=3),
    ),
    "pbt": PBT_GOOD,
    "tpe-asha": (
        at("spec.algorithm", name="tpe", seed=7),
        at("spec.earlyStopping", name="asha", gracePeriod=2, reductionFactor=2),
    ),
    "every-distribution": (
        at(
            "spec.searchSpace",
            **{
                DECAY: {"uniform": [0, 0.1]},
                "training.warmup_steps": {"randint": [0, 20]},
                "model.lora.rank": {"grid": [4, 8]},
                "model.lora": {"choice": [None, {"rank": 8}]},
                "data.train": {"choice": ["builtin:arithmetic"]},
            },
        ),
    ),
    "gs-with-credentials": (at("spec.evidence", uri="gs://my-bucket", credentialsSecret="gcs-key"),),
    "evidence-default": (at("spec", evidence=DROP),),
    "evidence-trailing-slash-and-gcs-underscore": (
        at("spec.evidence", uri="gs://my_bucket.example/team-a/"),
    ),
    "image-references": (
        at("spec.trainer", image="registry.example:5000/team/trainer:1.2@sha256:" + "0a" * 32),
    ),
    "node-labels": (
        at(
            "spec.resources.workers",
            nodeSelector={"example.com/pool_name": "A-1.b", "pool": ""},
            tolerations=[{"key": "example.com/spot", "operator": "Exists"}, {"operator": "Exists"}],
        ),
    ),
    "tpu-single-host-v5e": (
        at("spec.resources.perTrial", accelerator="google.com/tpu", count=8),
        at("spec.resources", tpu={"acceleratorType": "tpu-v5-lite-podslice", "topology": "2x4"}),
    ),
    "smoke-tunes-the-demo": (at("spec", mode="smoke"), at("spec.trainer", baseConfig=DROP)),
    "file-evidence": (at("spec.evidence", uri="file:///tmp/tunesweep-evidence"),),
    "objective-spelled-out": (at("spec.objective", metric="primary_score", mode="max"),),
    "smoke-with-promotion": (
        at("spec", mode="smoke", ttlSecondsAfterFinished=0),
        at("spec.promotion", configMapName="best.config", minScore=0.5),
    ),
    "warm-start": (
        at("spec.algorithm", name="tpe"),
        at(
            "spec",
            warmStart=[{"sweep": "earlier.sweep"}, {"evidenceURI": "s3://bucket/prefix/ns/earlier/uid"}],
        ),
    ),
    "explicit-nulls": (
        at("spec.searchSpace", **{DECAY: {"uniform": [0.0, 0.1], "choice": None}}),
        at("spec.resources", tpu=None),
    ),
}


@dataclass(frozen=True)
class MalformedBounds:
    """A range distribution (loguniform, uniform, randint) given bounds that are not a [low, high] pair."""

    distribution: str
    bounds: list[Any]
    python: str
    """Part of `tunesweep validate`'s first problem."""
    server: tuple[str, ...]
    """Parts of the API server's refusal."""

    @property
    def id(self) -> str:
        return f"{self.distribution}-{self.bounds}"

    def manifest(self) -> dict[str, Any]:
        # a pair's shape is checked before its values meet the field's type
        return with_edits(at(SPACE, **{"training.max_steps": {self.distribution: self.bounds}}))


RANGE_RULES = {rule.field[0]: rule.message for rule in SearchDimension.rules if rule.cel}
"""The message of each range distribution's CEL rule (loguniform, uniform, randint)."""


def _malformed(distribution: str, low: float, type_name: str) -> list[MalformedBounds]:
    short = ("should have at least 2 items", RANGE_RULES[distribution])
    return [
        MalformedBounds(distribution, [low], "List should have at least 2 items", short),
        MalformedBounds(distribution, [], "List should have at least 2 items", short),
        MalformedBounds(
            distribution,
            [low, 2 * low, 3 * low],
            "List should have at most 2 items",
            ("must have at most 2 items",),
        ),
        MalformedBounds(
            distribution, ["low", "high"], "Input should be a valid", (f"must be of type {type_name}",)
        ),
    ]


MALFORMED_BOUNDS = [
    *_malformed("loguniform", 1.0, "number"),
    *_malformed("uniform", 1.0, "number"),
    *_malformed("randint", 1, "integer"),
]
