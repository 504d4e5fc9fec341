"""render_rayjob for each accelerator, Kueue, evidence credentials and defaults (pure)."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError
from tunesweep_evidence.pod_overlay import PodTemplateOverlay
from tunesweep_evidence.spec import Accelerator
from tunesweep_operator import names
from tunesweep_operator.ownership import owner_reference
from tunesweep_operator.rayjob import (
    RAY_AUTH_ANNOTATION,
    active_deadline_seconds,
    ended_by_operator,
    render_network_policy,
    render_ray_auth_secret,
    render_rayjob,
)
from tunesweep_operator.settings import OperatorSettings

from tests.operator.sweeps import MOCK_BASE_CONFIG, sweep_manifest, sweep_model

PLAN = "s3://evidence/team-a/sweep/uid-1234/plan.json"
SETTINGS = OperatorSettings(
    trainer_images={
        Accelerator.none: "trainer-cpu:1",
        Accelerator.nvidia_gpu: "trainer-cuda:1",
        Accelerator.google_tpu: "trainer-tpu:1",
    },
    operator_image="operator:1",
    ray_auth=False,  # the shapes below without Ray auth; its additions are tested on their own
)


def render(settings: OperatorSettings = SETTINGS, **spec: Any) -> dict[str, Any]:
    manifest = sweep_manifest("lr-sweep", "s3://evidence", **spec)
    return render_rayjob(sweep_model(manifest), PLAN, settings)


def worker_group(rayjob: dict[str, Any]) -> dict[str, Any]:
    (group,) = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    return group


def container(template: dict[str, Any]) -> dict[str, Any]:
    (only,) = template["spec"]["containers"]
    return only


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def test_cpu_sweep_rayjob_shape() -> None:
    rayjob = render(ttlSecondsAfterFinished=120)
    meta, spec = rayjob["metadata"], rayjob["spec"]
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["kind"] == "RayJob"
    assert meta["name"] == names.rayjob_name("lr-sweep", "uid-1234")
    assert meta["namespace"] == "team-a"
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "tunesweep",
        "tunesweep.dev/sweep": "lr-sweep",
        "tunesweep.dev/sweep-uid": "uid-1234",
    }
    assert meta["annotations"] == {"tunesweep.dev/operator-image": "operator:1"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "tunesweep.dev/v1alpha1",
            "kind": "TuningSweep",
            "name": "lr-sweep",
            "uid": "uid-1234",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert spec["entrypoint"] == f"tunesweep drive --plan {PLAN}"
    assert spec["submissionMode"] == "K8sJobMode"
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] == 120
    assert spec["backoffLimit"] == 2
    # 4 trials, trials.parallel 2 but one worker Pod: four waves of 300 s, plus the slack
    assert spec["activeDeadlineSeconds"] == 4 * 300 + 900
    assert "suspend" not in spec and "kueue.x-k8s.io/queue-name" not in meta["labels"]

    head = spec["rayClusterSpec"]["headGroupSpec"]
    assert head["rayStartParams"] == {"num-cpus": "0"}  # trials never land on the head
    head_container = container(head["template"])
    assert head_container["name"] == "ray-head" and head_container["image"] == "trainer-cpu:1"
    assert head_container["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert head["template"]["metadata"]["labels"]["tunesweep.dev/sweep"] == "lr-sweep"

    group = worker_group(rayjob)
    assert group["groupName"] == "trials"
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"], group["numOfHosts"]) == (
        1,
        1,
        1,
        1,
    )
    assert group["rayStartParams"] == {"num-cpus": "1"}
    worker = container(group["template"])
    assert worker["image"] == "trainer-cpu:1"
    assert worker["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert env_of(worker) == {"JAX_PLATFORMS": "cpu"}
    assert "tolerations" not in group["template"]["spec"] and "nodeSelector" not in group["template"]["spec"]


def test_entrypoint_quotes_the_plan_uri() -> None:
    manifest = sweep_manifest("s", "file:///data/x")
    rayjob = render_rayjob(sweep_model(manifest), "file:///data/my evidence/plan.json", SETTINGS)
    assert rayjob["spec"]["entrypoint"] == "tunesweep drive --plan 'file:///data/my evidence/plan.json'"


def test_a_toleration_the_user_gave_is_not_repeated() -> None:
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    rayjob = render(
        resources={
            "perTrial": {"accelerator": "nvidia.com/gpu", "count": 1},
            "workers": {"replicas": 1, "tolerations": [gpu]},
        }
    )
    assert worker_group(rayjob)["template"]["spec"]["tolerations"] == [gpu]


def test_gpu_workers() -> None:
    rayjob = render(
        resources={
            "perTrial": {"accelerator": "nvidia.com/gpu", "count": 2, "cpu": "8", "memory": "32Gi"},
            "workers": {
                "replicas": 3,
                "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
                "tolerations": [{"key": "team", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
            },
        }
    )
    group = worker_group(rayjob)
    worker = container(group["template"])
    assert worker["image"] == "trainer-cuda:1"
    assert worker["resources"]["requests"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
    assert worker["resources"]["limits"] == worker["resources"]["requests"]
    assert group["rayStartParams"] == {"num-cpus": "8", "num-gpus": "2"}
    assert group["replicas"] == 3
    assert group["template"]["spec"]["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert group["template"]["spec"]["tolerations"] == [
        {"key": "team", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]
    # the head runs the driver only: no GPU
    head = container(rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"])
    assert "nvidia.com/gpu" not in head["resources"]["requests"]


@pytest.mark.parametrize(
    ("accelerator_type", "topology", "chips"),
    [
        ("tpu-v6e-slice", "2x2", 4),
        ("tpu-v6e-slice", "2x4", 8),
        ("tpu-v5-lite-podslice", "1x1", 1),
        ("tpu-v4-podslice", "2x2x1", 4),
        ("tpu-v5p-slice", "2x2x1", 4),
    ],
)
def test_tpu_workers(accelerator_type: str, topology: str, chips: int) -> None:
    rayjob = render(
        resources={
            "perTrial": {"accelerator": "google.com/tpu", "count": chips, "cpu": "4"},
            "workers": {"replicas": 2, "nodeSelector": {"pool": "tpu"}},
            "tpu": {"acceleratorType": accelerator_type, "topology": topology},
        }
    )
    group = worker_group(rayjob)
    worker = container(group["template"])
    assert worker["image"] == "trainer-tpu:1"
    assert group["numOfHosts"] == 1  # a trial is one process: single-host slices only
    assert group["replicas"] == 2  # slices
    assert worker["resources"]["requests"]["google.com/tpu"] == str(chips)
    assert worker["resources"]["limits"]["google.com/tpu"] == str(chips)
    assert group["template"]["spec"]["nodeSelector"] == {
        "pool": "tpu",
        "cloud.google.com/gke-tpu-accelerator": accelerator_type,
        "cloud.google.com/gke-tpu-topology": topology,
    }
    assert {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"} in group["template"][
        "spec"
    ]["tolerations"]
    # Ray's TPU resource is left to KubeRay, which derives it from the google.com/tpu limit
    assert "resources" not in group["rayStartParams"]
    assert env_of(worker)["JAX_PLATFORMS"] == "tpu"


def test_workers_default_to_one_per_parallel_trial() -> None:
    rayjob = render(trials={"count": 12, "parallel": 3, "timeoutSeconds": 100}, resources={})
    group = worker_group(rayjob)
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (3, 3, 3)
    assert rayjob["spec"]["activeDeadlineSeconds"] == 4 * 100 + 900  # 12 trials, 3 at once


def test_the_deadline_counts_every_grid_trial() -> None:
    grid = {
        "training.learning_rate": {"grid": [1e-4, 1e-3, 1e-2, 1e-1]},
        "training.max_steps": {"grid": [1, 2, 3]},
    }
    rayjob = render(
        searchSpace=grid, trials={"count": 1, "parallel": 2, "timeoutSeconds": 3600}, resources={}
    )
    assert rayjob["spec"]["activeDeadlineSeconds"] == 6 * 3600 + 900  # 12 trials, 2 at once


def test_trials_on_the_head_size_it_for_one_trial_and_the_driver() -> None:
    rayjob = render(
        resources={
            "perTrial": {"accelerator": "nvidia.com/gpu", "count": 1, "cpu": "1500m", "memory": "8Gi"},
            "workers": {"replicas": 0, "nodeSelector": {"pool": "gpu"}},
        }
    )
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["workerGroupSpecs"] == []
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"] == {"num-cpus": "2", "num-gpus": "1"}  # one trial: whole CPUs
    requests = container(head["template"])["resources"]["requests"]
    # one trial (1500m, 8Gi, 1 GPU) plus the driver (the operator's head size: 1 CPU, 2Gi)
    assert requests == {"cpu": "2500m", "memory": "10240Mi", "nvidia.com/gpu": "1"}
    assert head["template"]["spec"]["nodeSelector"] == {"pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in head["template"][
        "spec"
    ]["tolerations"]
    assert rayjob["spec"]["activeDeadlineSeconds"] == 4 * 300 + 900  # one trial at a time


def test_kueue_queue_label_and_suspend() -> None:
    rayjob = render(resources={"perTrial": {"cpu": "1"}, "queueName": "team-a-queue"})
    assert rayjob["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a-queue"
    assert rayjob["spec"]["suspend"] is True


@pytest.mark.parametrize(
    ("uri", "variable", "value"),
    [
        ("s3://evidence/prefix", "TUNESWEEP_S3_CREDENTIALS_DIR", "/var/run/secrets/tunesweep/evidence"),
        ("gs://evidence", "GOOGLE_APPLICATION_CREDENTIALS", "/var/run/secrets/tunesweep/evidence/key.json"),
    ],
)
def test_bucket_credentials_are_a_mounted_secret_never_env_values(
    uri: str, variable: str, value: str
) -> None:
    rayjob = render(evidence={"uri": uri, "credentialsSecret": "bucket-creds"})
    for template in (
        rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"],
        worker_group(rayjob)["template"],
    ):
        assert template["spec"]["volumes"] == [
            {"name": "evidence-credentials", "secret": {"secretName": "bucket-creds"}}
        ]
        c = container(template)
        assert c["volumeMounts"] == [
            {
                "name": "evidence-credentials",
                "mountPath": "/var/run/secrets/tunesweep/evidence",
                "readOnly": True,
            }
        ]
        assert env_of(c)[variable] == value
        assert not any(e["name"].startswith("AWS_") or "valueFrom" in e for e in c["env"])


def test_ambient_identity_without_secret() -> None:
    rayjob = render(evidence={"uri": "gs://evidence"}, resources={"workers": {"replicas": 0}})
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]
    assert rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"] == []
    assert head["rayStartParams"] == {"num-cpus": "1"}  # no workers: trials run on the head
    assert env_of(container(head["template"])) == {"JAX_PLATFORMS": "cpu"}  # no credentials
    assert "volumes" not in head["template"]["spec"]


def test_file_evidence_volume_is_shared_with_the_ray_pods() -> None:
    settings = replace(
        SETTINGS,
        file_evidence_volume={"persistentVolumeClaim": {"claimName": "tunesweep-evidence"}},
        file_evidence_path="/evidence",
        ray_service_account="ray-pods",
    )
    rayjob = render(settings, evidence={"uri": "file:///evidence/runs"})
    for template in (
        rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"],
        worker_group(rayjob)["template"],
    ):
        assert template["spec"]["volumes"] == [
            {"name": "evidence", "persistentVolumeClaim": {"claimName": "tunesweep-evidence"}}
        ]
        assert container(template)["volumeMounts"] == [{"name": "evidence", "mountPath": "/evidence"}]
        assert template["spec"]["serviceAccountName"] == "ray-pods"


def test_image_from_spec_wins_over_the_default() -> None:
    rayjob = render(trainer={"image": "mine:2", "backend": "mock", "baseConfig": MOCK_BASE_CONFIG})
    assert container(worker_group(rayjob)["template"])["image"] == "mine:2"


def test_deadline_is_capped_at_int32() -> None:
    trials = {"count": 10_000, "parallel": 1, "timeoutSeconds": 30 * 24 * 3600}
    manifest = sweep_manifest("s", "s3://evidence", trials=trials)
    assert active_deadline_seconds(sweep_model(manifest), SETTINGS) == 2**31 - 1


def test_rayjob_names_are_deterministic_dns_labels() -> None:
    assert names.rayjob_name("lr-sweep", "uid-1") == names.rayjob_name("lr-sweep", "uid-1")
    assert names.rayjob_name("lr-sweep", "uid-1") != names.rayjob_name("lr-sweep", "uid-2")
    for sweep_name in ("lr-sweep", "9lives.v2", "a" * 253, "---", "Gemma_2B.sweep"):
        name = names.rayjob_name(sweep_name, "0b8f4d7e-1111-2222-3333-444455556666")
        assert len(name) <= 40
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name), name
    assert names.rayjob_name("lr-sweep", "u").startswith("lr-sweep-")
    assert names.config_map_name("lr-sweep", "") == "lr-sweep-best"
    assert names.config_map_name("lr-sweep", "gemma-best") == "gemma-best"


def test_pod_template_overlays_chart_first_then_the_sweep() -> None:
    chart = PodTemplateOverlay.model_validate(
        {
            "metadata": {"annotations": {"sidecar.istio.io/inject": "false", "team": "chart"}},
            "spec": {"imagePullSecrets": [{"name": "registry"}], "priorityClassName": "batch-low"},
        }
    )
    settings = replace(SETTINGS, head_pod_template=chart, worker_pod_template=chart)
    rayjob = render(
        settings,
        resources={
            "perTrial": {"accelerator": "nvidia.com/gpu", "count": 1},
            "workers": {"replicas": 2},
            "headPodTemplate": {
                "spec": {
                    "nodeSelector": {"pool": "system"},
                    "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                }
            },
            "workerPodTemplate": {
                "metadata": {"annotations": {"team": "ml"}},
                "spec": {
                    "priorityClassName": "batch-high",
                    "securityContext": {"runAsNonRoot": True},
                    "containers": [
                        {
                            "name": "ray-worker",
                            "resources": {"requests": {"ephemeral-storage": "50Gi"}},
                            "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
                        }
                    ],
                },
            },
        },
    )
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
    assert head["spec"]["nodeSelector"] == {"pool": "system"}
    assert head["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    assert head["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    assert head["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false", "team": "chart"}
    worker = worker_group(rayjob)["template"]
    assert worker["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false", "team": "ml"}
    assert worker["metadata"]["labels"]["tunesweep.dev/sweep"] == "lr-sweep"  # the operator's labels stay
    assert worker["spec"]["priorityClassName"] == "batch-high"  # the sweep's wins over the chart's
    assert worker["spec"]["securityContext"] == {"runAsNonRoot": True}
    # the operator's accelerator toleration stays beside anything an overlay adds
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in worker["spec"][
        "tolerations"
    ]
    c = container(worker)
    assert c["resources"]["requests"] == {
        "cpu": "1",
        "memory": "4Gi",
        "nvidia.com/gpu": "1",
        "ephemeral-storage": "50Gi",
    }
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": "1"}
    assert c["image"] == "trainer-cuda:1" and env_of(c) == {"HF_HUB_OFFLINE": "1"}


@pytest.mark.parametrize(
    ("overlay", "path", "says"),
    [
        (
            {"spec": {"containers": [{"name": "ray-worker", "command": ["sh"]}]}},
            "containers.0.command",
            "Extra inputs",
        ),
        (
            {"spec": {"containers": [{"name": "ray-worker", "ports": []}]}},
            "containers.0.ports",
            "Extra inputs",
        ),
        (
            {
                "spec": {
                    "containers": [
                        {"name": "ray-worker", "env": [{"name": "TUNESWEEP_EVIDENCE", "value": "x"}]}
                    ]
                }
            },
            "containers.0.env.0.name",
            "set by the operator",
        ),
        (
            {"spec": {"containers": [{"name": "ray-worker", "resources": {"limits": {"memory": "1Gi"}}}]}},
            "containers.0.resources.limits.memory",
            "set resources.perTrial instead",
        ),
        (
            {"spec": {"containers": [{"name": "sidecar"}]}},
            "containers.0.name",
            "name its Ray container, ray-worker",
        ),
    ],
)
def test_overlays_cannot_touch_what_the_operator_owns(overlay: dict[str, Any], path: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        sweep_model(sweep_manifest("s", "s3://evidence", resources={"workerPodTemplate": overlay}))
    assert f"workerPodTemplate.spec.{path}" in str(caught.value) and says in str(caught.value)


AUTH_MOUNT = {
    "name": "tunesweep-ray-auth",
    "mountPath": "/var/run/secrets/tunesweep/ray-auth",
    "readOnly": True,
}
AUTH_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": "/var/run/secrets/tunesweep/ray-auth/token"}


def test_submitter_keeps_kuberays_defaults_and_carries_the_sweeps_labels() -> None:
    rayjob = render(SETTINGS)
    submitter = rayjob["spec"]["submitterPodTemplate"]
    assert submitter["metadata"]["labels"] == names.child_labels("lr-sweep", "uid-1234")
    # KubeRay v1.5's GetDefaultSubmitterContainer: name, the head's image, its resources; no command
    # (KubeRay writes the `ray job submit` command into a container that has none)
    assert submitter["spec"] == {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "ray-job-submitter",
                "image": "trainer-cpu:1",
                "resources": {
                    "requests": {"cpu": "500m", "memory": "200Mi"},
                    "limits": {"cpu": "1", "memory": "1Gi"},
                },
            }
        ],
    }
    # without Ray auth, no Ray auth env nor token volume anywhere
    assert "RAY_AUTH_MODE" not in json_text(rayjob) and "ray-auth" not in json_text(rayjob)


def test_ray_auth_gives_every_ray_container_and_the_submitter_the_token_as_a_file() -> None:
    settings = replace(SETTINGS, ray_auth=True)
    head_pull = {"spec": {"imagePullSecrets": [{"name": "registry"}]}}
    rayjob = render(replace(settings, head_pod_template=PodTemplateOverlay.model_validate(head_pull)))
    secret = names.ray_auth_secret_name("lr-sweep", "uid-1234")
    volume = {"name": "tunesweep-ray-auth", "secret": {"secretName": secret}}
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
    submitter = rayjob["spec"]["submitterPodTemplate"]
    for template in (head, worker_group(rayjob)["template"], submitter):
        (c,) = template["spec"]["containers"]
        assert AUTH_ENV.items() <= env_of(c).items(), c["name"]
        assert AUTH_MOUNT in c["volumeMounts"], c["name"]
        assert volume in template["spec"]["volumes"]
        assert "RAY_AUTH_TOKEN" not in env_of(c)  # never the token itself
    assert submitter["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    # the trials on the head: the head still authenticates
    on_head = render(
        settings, resources={"perTrial": {"cpu": "1", "memory": "1Gi"}, "workers": {"replicas": 0}}
    )
    head_container = container(on_head["spec"]["rayClusterSpec"]["headGroupSpec"]["template"])
    assert AUTH_ENV.items() <= env_of(head_container).items()


def test_ray_auth_secret_and_network_policy_are_the_sweeps() -> None:
    sweep = sweep_model(sweep_manifest("lr-sweep", "s3://evidence"))
    secret = render_ray_auth_secret(sweep, "t0ken")
    assert secret["metadata"]["name"] == names.ray_auth_secret_name("lr-sweep", "uid-1234")
    assert secret["metadata"]["name"] == f"{names.rayjob_name('lr-sweep', 'uid-1234')}-ray-auth"
    assert secret["metadata"]["ownerReferences"] == [owner_reference(sweep)]
    assert secret["stringData"] == {"token": "t0ken"} and secret["immutable"] is True
    operator_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tunesweep-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "tunesweep"}},
    }
    policy = render_network_policy(sweep, [operator_peer])
    assert policy["metadata"]["name"] == names.network_policy_name("lr-sweep", "uid-1234")
    assert policy["metadata"]["ownerReferences"] == [owner_reference(sweep)]
    own = {"podSelector": {"matchLabels": {"tunesweep.dev/sweep-uid": "uid-1234"}}}
    # the policy selects what the RayJob's head, worker and submitter templates carry
    assert policy["spec"] == {
        "podSelector": own["podSelector"],
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [own, operator_peer]}],
    }
    rayjob = render(SETTINGS)
    selected = own["podSelector"]["matchLabels"].items()
    for template in (
        rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"],
        worker_group(rayjob)["template"],
        rayjob["spec"]["submitterPodTemplate"],
    ):
        assert selected <= template["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("volume", "mount"),
    [
        ("tunesweep-ray-auth", "/data"),
        ("mine", "/var/run/secrets/tunesweep/ray-auth"),
        ("mine", "/var/run/secrets/tunesweep/ray-auth/x"),
    ],
)
def test_overlays_cannot_touch_the_ray_token(volume: str, mount: str) -> None:
    overlay = {
        "spec": {
            "volumes": [{"name": volume, "emptyDir": {}}],
            "containers": [{"name": "ray-head", "volumeMounts": [{"name": volume, "mountPath": mount}]}],
        }
    }
    with pytest.raises(ValidationError) as caught:
        sweep_model(sweep_manifest("s", "s3://evidence", resources={"headPodTemplate": overlay}))
    assert "the operator" in str(caught.value)


def json_text(obj: Any) -> str:
    return json.dumps(obj)


def test_only_a_ray_auth_rayjob_is_ended_by_the_operator() -> None:
    with_auth = render(replace(SETTINGS, ray_auth=True))
    assert with_auth["metadata"]["annotations"][RAY_AUTH_ANNOTATION] == "token"
    assert ended_by_operator(with_auth)
    assert not ended_by_operator(render(SETTINGS))  # KubeRay sees the job end and cleans up itself
    deleting = copy.deepcopy(with_auth)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not ended_by_operator(deleting)
