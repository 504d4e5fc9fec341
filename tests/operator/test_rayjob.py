"""render_rayjob for each accelerator, Kueue, evidence credentials and defaults (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tunesweep_evidence.spec import Accelerator
from tunesweep_operator import names
from tunesweep_operator.rayjob import active_deadline_seconds, cpu_count, render_rayjob
from tunesweep_operator.settings import OperatorSettings
from tunesweep_operator.tpu import TpuTopologyError

from tests.operator.sweeps import sweep_manifest, sweep_model

PLAN = "s3://evidence/team-a/sweep/uid-1234/plan.json"
SETTINGS = OperatorSettings(
    trainer_images={
        Accelerator.none: "trainer-cpu:1",
        Accelerator.nvidia_gpu: "trainer-cuda:1",
        Accelerator.google_tpu: "trainer-tpu:1",
    },
    operator_image="operator:1",
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
    # 4 trials, 2 at a time: two waves of 300 s, plus the slack
    assert spec["activeDeadlineSeconds"] == 2 * 300 + 900
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
    ("accelerator_type", "topology", "hosts", "chips_per_host"),
    [
        ("tpu-v6e-slice", "2x2", 1, 4),
        ("tpu-v6e-slice", "2x4", 1, 8),
        ("tpu-v6e-slice", "4x4", 4, 4),
        ("tpu-v5-lite-podslice", "8x8", 16, 4),
        ("tpu-v4-podslice", "2x2x4", 4, 4),
        ("tpu-v5p-slice", "2x2x1", 1, 4),
    ],
)
def test_tpu_workers(accelerator_type: str, topology: str, hosts: int, chips_per_host: int) -> None:
    rayjob = render(
        resources={
            "perTrial": {"accelerator": "google.com/tpu", "count": hosts * chips_per_host, "cpu": "4"},
            "workers": {"replicas": 2, "nodeSelector": {"pool": "tpu"}},
            "tpu": {"acceleratorType": accelerator_type, "topology": topology},
        }
    )
    group = worker_group(rayjob)
    worker = container(group["template"])
    assert worker["image"] == "trainer-tpu:1"
    assert group["numOfHosts"] == hosts
    assert group["replicas"] == 2  # slices
    assert worker["resources"]["requests"]["google.com/tpu"] == str(chips_per_host)
    assert worker["resources"]["limits"]["google.com/tpu"] == str(chips_per_host)
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


def test_unknown_tpu_type_is_refused() -> None:
    with pytest.raises(TpuTopologyError, match="unknown TPU accelerator type 'tpu-v9'"):
        render(
            resources={
                "perTrial": {"accelerator": "google.com/tpu", "count": 4},
                "tpu": {"acceleratorType": "tpu-v9", "topology": "2x2"},
            }
        )


def test_kueue_queue_label_and_suspend() -> None:
    rayjob = render(resources={"perTrial": {"cpu": "1"}, "queueName": "team-a-queue"})
    assert rayjob["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a-queue"
    assert rayjob["spec"]["suspend"] is True


def test_s3_credentials_are_secret_references_only() -> None:
    rayjob = render(evidence={"uri": "s3://evidence/prefix", "credentialsSecret": "bucket-creds"})
    head = container(rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"])
    worker = container(worker_group(rayjob)["template"])
    for c in (head, worker):
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}
        assert refs == {
            "AWS_ACCESS_KEY_ID": {"name": "bucket-creds", "key": "AWS_ACCESS_KEY_ID"},
            "AWS_SECRET_ACCESS_KEY": {"name": "bucket-creds", "key": "AWS_SECRET_ACCESS_KEY"},
            "AWS_SESSION_TOKEN": {"name": "bucket-creds", "key": "AWS_SESSION_TOKEN", "optional": True},
            "AWS_ENDPOINT_URL": {"name": "bucket-creds", "key": "AWS_ENDPOINT_URL", "optional": True},
            "AWS_REGION": {"name": "bucket-creds", "key": "AWS_REGION", "optional": True},
        }
        assert not any("value" in e for e in c["env"] if e["name"].startswith("AWS_"))


def test_gcs_credentials_are_a_mounted_secret() -> None:
    rayjob = render(evidence={"uri": "gs://evidence", "credentialsSecret": "gcs-key"})
    for template in (
        rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"],
        worker_group(rayjob)["template"],
    ):
        assert template["spec"]["volumes"] == [
            {"name": "evidence-credentials", "secret": {"secretName": "gcs-key"}}
        ]
        c = container(template)
        assert c["volumeMounts"] == [
            {
                "name": "evidence-credentials",
                "mountPath": "/var/run/secrets/tunesweep/evidence",
                "readOnly": True,
            }
        ]
        assert env_of(c)["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/tunesweep/evidence/key.json"


def test_ambient_identity_without_secret() -> None:
    rayjob = render(evidence={"uri": "gs://evidence"}, resources={"workers": {"replicas": 0}})
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]
    assert rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"] == []
    assert head["rayStartParams"] == {}  # no workers: trials run on the head
    assert "env" not in container(head["template"]) and "volumes" not in head["template"]["spec"]


def test_file_evidence_volume_is_shared_with_the_ray_pods() -> None:
    settings = OperatorSettings(
        trainer_images=SETTINGS.trainer_images,
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
    rayjob = render(trainer={"image": "mine:2", "backend": "mock"})
    assert container(worker_group(rayjob)["template"])["image"] == "mine:2"


def test_deadline_is_capped_at_int32() -> None:
    trials = {"count": 10_000, "parallel": 1, "timeoutSeconds": 30 * 24 * 3600}
    manifest = sweep_manifest("s", "s3://evidence", trials=trials)
    assert active_deadline_seconds(sweep_model(manifest), SETTINGS) == 2**31 - 1


@pytest.mark.parametrize(("quantity", "cpus"), [("4", 4), ("1.5", 2), ("500m", 1), ("2500m", 3)])
def test_cpu_count(quantity: str, cpus: int) -> None:
    assert cpu_count(quantity) == cpus


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
