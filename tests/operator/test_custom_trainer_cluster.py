"""Custom trainers through the cluster path as production runs them: `backend: python` (the sample
package `my_trainer`, on the worker's PYTHONPATH as its image would install it) and `backend: command`
(a plain Python script run as a subprocess). The operator's RayJob, KubeRay's Ray cluster, the trials
on the worker Pod, the operator's promotion of the best config."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.verify import verify

from tests.operator.cluster import KUBERAY_SEES_THE_END, Cluster
from tests.operator.conftest import StartOperator
from tests.operator.ray_cluster import ray_pods, trial_hosts
from tests.operator.sweeps import sweep_manifest
from tests.support.kubelet import KubeletStandIn
from tests.sweep.custom_trainers import SAMPLE_ENTRYPOINT, SAMPLE_PACKAGE, SCRIPT
from tests.sweep.sweeps import manifests

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
# The worker container's PYTHONPATH stands in for the sample package its image recipe installs (the
# kubelet stand-in runs the container's command from this checkout's .venv).
SAMPLE_ON_PATH = {
    "workerPodTemplate": {
        "spec": {
            "containers": [
                {"name": "ray-worker", "env": [{"name": "PYTHONPATH", "value": str(SAMPLE_PACKAGE)}]}
            ]
        }
    }
}
TRAINERS = {
    "python": ({"backend": "python", "entrypoint": SAMPLE_ENTRYPOINT}, SAMPLE_ON_PATH),
    "command": ({"backend": "command", "command": [sys.executable, str(SCRIPT)]}, {}),
}


@pytest.mark.parametrize("backend", sorted(TRAINERS))
def test_a_custom_trainer_sweeps_on_the_cluster_and_its_best_config_is_promoted(
    backend: str,
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    start_operator(**KUBERAY_SEES_THE_END)
    trainer, overlays = TRAINERS[backend]
    resources: dict[str, Any] = {"perTrial": {"cpu": "1", "memory": "1Gi"}, "workers": {"replicas": 1}}
    name = f"{backend}-sweep"
    manifest = sweep_manifest(
        name,
        f"file://{tmp_path}/evidence",
        trainer={
            **trainer,
            "baseConfig": {
                "training": {"max_steps": 120, "report_every_steps": 20, "seed": 0},
                "optim": {"learning_rate": 0.03, "batch_size": 64},
                "data": {"eval_size": 20, "test_size": 10, "rung_size": 10},
            },
        },
        algorithm={"name": "grid", "seed": 0},
        searchSpace={"optim.learning_rate": {"grid": [0.01, 0.3]}},
        trials={"count": 1, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 300},
        resources={**resources, **overlays},
    )
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(manifest))
    kubectl("apply", "-f", str(path), namespace=namespace)

    status = cluster.wait_for_phase(name, ("Succeeded", "Failed"), timeout=400)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    root = status["evidenceURI"]
    best_rate = status["bestTrial"]["params"]["optim.learning_rate"]
    assert backend == "python" or best_rate == 0.3  # the script's gradient descent needs 0.3 in 120 steps

    # every trial ran the custom trainer on the worker Pod
    (rayjob,) = cluster.rayjobs()
    pods = ray_pods(cluster.core, namespace, rayjob["status"]["rayClusterName"])
    hosts = trial_hosts(root)
    assert len(hosts) == 2 and set(hosts.values()) <= pods.worker_names, (hosts, pods.worker_names)

    # the operator promoted the trainer's own config, and the evidence verifies
    config_map = cluster.config_map(f"{name}-best")
    assert config_map is not None
    assert config_map.data["best_config.yaml"] == bucket.read_text(f"{root}/{layout.BEST_CONFIG}")
    promoted = yaml.safe_load(config_map.data["best_config.yaml"])["optim"]
    assert promoted == {"learning_rate": best_rate, "batch_size": 64}
    assert {run.backend for run in manifests(root).values()} == {backend}
    report = verify(root)
    assert report.ok, report.problems
