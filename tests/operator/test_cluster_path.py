"""Sweeps shaped for accelerators, through the cluster path as production runs them.

KubeRay's own operator turns the operator's RayJob into a Ray cluster; kube-scheduler places its Pods on
the kubelet stand-in's Node that offers the accelerator (GPU and TPU taints, GKE's TPU labels); those Pods
form a multi-node Ray cluster whose workers offer Ray's logical `GPU` / `TPU` resources; the submitter Job
submits the driver to the head through Ray's Jobs API; Ray places each trial on a worker and grants it
the accelerators it asked for. The tests assert where everything ran, not only how it ended.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import RunManifest

from tests.operator.cluster import KUBERAY_SEES_THE_END, Cluster
from tests.operator.conftest import StartOperator
from tests.operator.ray_cluster import ray_pods, trial_hosts
from tests.operator.sweeps import sweep_manifest
from tests.support.controlplane import ControlPlane
from tests.support.kubelet import KubeletStandIn

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

SHAPES: dict[str, tuple[dict[str, Any], str, dict[str, float]]] = {
    # name: (spec.resources, the Node its workers must land on, what Ray must grant each trial)
    "gpu": (
        {
            "perTrial": {"accelerator": "nvidia.com/gpu", "count": 1, "cpu": "1", "memory": "1Gi"},
            "workers": {"replicas": 2},
        },
        "gpu-pool",
        {"CPU": 1.0, "GPU": 1.0},
    ),
    "tpu": (
        {
            "perTrial": {"accelerator": "google.com/tpu", "count": 4, "cpu": "1", "memory": "1Gi"},
            "tpu": {"acceleratorType": "tpu-v6e-slice", "topology": "2x2"},
            "workers": {"replicas": 1},
        },
        "tpu-v6e-2x2-pool",
        {"CPU": 1.0, "TPU": 4.0},
    ),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_accelerator_sweep_runs_its_trials_on_that_worker_group(
    shape: str,
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    control_plane: ControlPlane,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    resources, node, granted = SHAPES[shape]
    start_operator(**KUBERAY_SEES_THE_END)
    evidence = f"file://{tmp_path}/evidence"
    manifest = sweep_manifest(f"{shape}-sweep", evidence, resources=resources)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(manifest))
    kubectl("apply", "-f", str(path), namespace=namespace)

    status = cluster.wait_for_phase(f"{shape}-sweep", ("Succeeded", "Failed"), timeout=400)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    root = status["evidenceURI"]

    # KubeRay's controller writes the RayJob's status (the job's status first, from the dashboard; its
    # deployment's once the submitter Job has finished too), on its own time: the driver's final
    # summary may have ended the sweep first
    (rayjob,) = cluster.rayjobs()
    rayjob = cluster.wait_for_rayjob(
        rayjob["metadata"]["name"],
        lambda job: job["status"].get("jobDeploymentStatus") == "Complete",
        "KubeRay's jobDeploymentStatus Complete",
    )
    assert rayjob["status"]["jobStatus"] == "SUCCEEDED", rayjob["status"]
    ray_cluster = rayjob["status"]["rayClusterName"]

    # the head on the CPU pool, the workers on the accelerator pool, as the scheduler placed them
    pods = ray_pods(cluster.core, namespace, ray_cluster)
    assert len(pods.workers) == resources["workers"]["replicas"]
    assert {p.spec.node_name for p in pods.workers} == {node}
    assert pods.head[0].spec.node_name == "cpu-pool"

    # the submitter Job submitted the driver to the head through Ray's Jobs API
    batch = client.BatchV1Api(cluster.core.api_client)
    (submitter,) = batch.list_namespaced_job(namespace).items
    command = " ".join([*submitter.spec.template.spec.containers[0].command,
                        *submitter.spec.template.spec.containers[0].args])  # fmt: skip
    dashboard = f"http://{ray_cluster}-head-svc.{namespace}.svc.cluster.local:8265"
    assert f"ray job submit --address {dashboard}" in command, command
    assert submitter.status.succeeded == 1
    head_tmp = kuberay.pod_tmp(namespace, pods.head_name)
    assert head_tmp is not None
    # the driver's log, on the head, under the submission id KubeRay gave the job
    (driver_log,) = head_tmp.glob(f"ray/session_latest/logs/job-driver-{rayjob['status']['jobId']}.log")
    assert "placement: each trial asks for" in driver_log.read_text()

    # KubeRay parsed every rayStartParams it was given (it logs an error for a `resources` it cannot)
    kuberay_log = (control_plane.workdir / f"kuberay-operator-{namespace}.log").read_text()
    assert "failed to add accelerator resources" not in kuberay_log

    # every trial ran on a worker Pod, never on the head, with the accelerators it asked for
    hosts = trial_hosts(root)
    assert len(hosts) == 4, hosts
    assert set(hosts.values()) <= pods.worker_names, (hosts, pods.worker_names)
    for trial_id in hosts:
        manifest_uri = layout.join(layout.trial_dir(root, trial_id), layout.RUN_MANIFEST)
        run = bucket.read_document(manifest_uri, RunManifest)
        assert run.host.ray_resources == granted, run.host
        assert run.host.node_ip in {p.status.pod_ip for p in pods.workers}
