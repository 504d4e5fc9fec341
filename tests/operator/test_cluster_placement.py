"""Where the placement model puts a sweep's Pods and trials, through KubeRay's own operator and the
scheduler: trials on the head when there are no workers, and Pod-template overlays on the Pods KubeRay
builds (a head that must tolerate a tainted node, worker annotations, priority, pull secrets)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from kubernetes import client
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import RunManifest

from tests.operator.cluster import KUBERAY_SEES_THE_END, Cluster
from tests.operator.conftest import StartOperator
from tests.operator.ray_cluster import ray_pods, trial_hosts
from tests.operator.sweeps import sweep_manifest
from tests.operator.test_sweep_lifecycle import apply
from tests.support.kubelet import KubeletStandIn

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def test_without_workers_the_head_runs_each_trial_with_its_accelerator(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    start_operator(**KUBERAY_SEES_THE_END)
    manifest = sweep_manifest(
        "on-head",
        f"file://{tmp_path}/evidence",
        trials={"count": 2, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 300},
        resources={
            "perTrial": {"accelerator": "nvidia.com/gpu", "count": 1, "cpu": "1", "memory": "1Gi"},
            "workers": {"replicas": 0},
        },
    )
    apply(kubectl, namespace, manifest, tmp_path)
    status = cluster.wait_for_phase("on-head", ("Succeeded", "Failed"), timeout=400)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert (status["trials"]["planned"], status["trials"]["concurrent"], status["trials"]["queued"]) == (
        2,
        1,
        0,
    )

    (rayjob,) = cluster.rayjobs()
    pods = ray_pods(cluster.core, namespace, rayjob["status"]["rayClusterName"])
    assert pods.workers == []
    (head,) = pods.head
    # sized for one trial plus the driver, on the GPU pool (the scheduler's decision)
    assert head.spec.node_name == "gpu-pool"
    # (as the API server stores quantities: 2000m is 2, 3221225472 is 3Gi)
    assert head.spec.containers[0].resources.requests == {"cpu": "2", "memory": "3Gi", "nvidia.com/gpu": "1"}
    hosts = trial_hosts(status["evidenceURI"])
    assert set(hosts.values()) == {pods.head_name}, hosts
    for trial_id in hosts:
        run = bucket.read_document(
            layout.join(layout.trial_dir(status["evidenceURI"], trial_id), layout.RUN_MANIFEST), RunManifest
        )
        assert run.host.ray_resources == {"CPU": 1.0, "GPU": 1.0}, run.host
    assert kuberay.errors == []


def test_pod_template_overlays_reach_the_pods_kuberay_builds(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    scheduling = client.SchedulingV1Api(cluster.core.api_client)
    priority = f"{namespace}-batch"
    scheduling.create_priority_class({"metadata": {"name": priority}, "value": 1000})
    try:
        # The head must run on the tainted GPU pool (say, a cluster with no untainted node): the chart's
        # overlay says where, the sweep's adds an annotation. The workers get the sweep's overlay.
        chart_head = {
            "spec": {"nodeSelector": {"nvidia.com/gpu.present": "true"}, "tolerations": [GPU_TOLERATION]}
        }
        start_operator(TUNESWEEP_HEAD_POD_TEMPLATE=json.dumps(chart_head), **KUBERAY_SEES_THE_END)
        manifest = sweep_manifest(
            "overlaid",
            f"file://{tmp_path}/evidence",
            trials={"count": 2, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 300},
            resources={
                "perTrial": {"cpu": "1", "memory": "1Gi"},
                "headPodTemplate": {"metadata": {"annotations": {"sidecar.istio.io/inject": "false"}}},
                "workerPodTemplate": {
                    "metadata": {"annotations": {"team": "ml-platform"}, "labels": {"cost-center": "42"}},
                    "spec": {
                        "priorityClassName": priority,
                        "imagePullSecrets": [{"name": "registry"}],
                        "containers": [
                            {
                                "name": "ray-worker",
                                "resources": {"requests": {"ephemeral-storage": "1Gi"}},
                                "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
                            }
                        ],
                    },
                },
            },
        )
        apply(kubectl, namespace, manifest, tmp_path)
        status = cluster.wait_for_phase("overlaid", ("Succeeded", "Failed"), timeout=400)
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    finally:
        scheduling.delete_priority_class(priority)

    (rayjob,) = cluster.rayjobs()
    pods = ray_pods(cluster.core, namespace, rayjob["status"]["rayClusterName"])
    (head,) = pods.head
    assert head.spec.node_name == "gpu-pool"
    assert head.metadata.annotations["sidecar.istio.io/inject"] == "false"
    (worker,) = pods.workers
    assert worker.spec.node_name == "cpu-pool"
    assert worker.metadata.annotations["team"] == "ml-platform"
    assert worker.metadata.labels["cost-center"] == "42"
    assert worker.metadata.labels["tunesweep.dev/sweep"] == "overlaid"  # the operator's labels stay
    assert worker.spec.priority_class_name == priority and worker.spec.priority == 1000
    assert [s.name for s in worker.spec.image_pull_secrets] == ["registry"]
    (container,) = worker.spec.containers
    assert container.resources.requests["ephemeral-storage"] == "1Gi"
    assert container.resources.requests["cpu"] == "1" and container.image == "tunesweep-trainer:cpu-test"
    assert {"HF_HUB_OFFLINE": "1", "JAX_PLATFORMS": "cpu"}.items() <= {
        e.name: e.value for e in container.env
    }.items()
    assert set(trial_hosts(status["evidenceURI"]).values()) == {worker.metadata.name}
    assert kuberay.errors == []
