"""`tunesweep drive` on a multi-node Ray cluster shaped as the operator renders it: a head with no
CPUs (it runs the driver, never a trial) and two worker nodes with one logical GPU each. Ray's own
test cluster runs the nodes as processes on this machine (no Kubernetes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster
from tunesweep_evidence import layout
from tunesweep_trainer.sweep.driver import EXIT_SUCCEEDED
from tunesweep_trainer.sweep.ray_runtime import NODE_WAIT_ENV, temp_dir

from tests.sweep.sweeps import frozen_plan, manifests, sweep_manifest, sweep_summary

TUNESWEEP = str(Path(sys.executable).with_name("tunesweep"))
GPU_WORKER = {"num_cpus": 1, "num_gpus": 1}


@pytest.fixture(scope="module")
def gpu_cluster() -> Iterator[tuple[Cluster, set[str]]]:
    folder = temp_dir(None)
    # Cluster.add_node writes the head's address into <RAY_TMPDIR or /tmp>/ray/, whatever the nodes'
    # temp_dir, and fails where that folder is missing (a fresh machine): keep it in ours.
    (Path(folder) / "ray").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_TMPDIR", folder)
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "include_dashboard": False, "temp_dir": folder},
        )
        try:
            workers = {cluster.add_node(temp_dir=folder, **GPU_WORKER).node_id for _ in range(2)}
            yield cluster, workers
        finally:
            cluster.shutdown()
            shutil.rmtree(folder, ignore_errors=True)


def drive(cluster: Cluster, out: Path, per_trial: dict[str, object]) -> subprocess.CompletedProcess[str]:
    plan = frozen_plan(out, sweep_manifest(resources={"perTrial": per_trial, "workers": {"replicas": 2}}))
    env = os.environ | {"RAY_ADDRESS": cluster.address, NODE_WAIT_ENV: "1"}
    return subprocess.run(
        [TUNESWEEP, "drive", "--plan", layout.join(plan.evidence_uri, layout.PLAN)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_trials_run_on_the_gpu_workers_and_say_so(
    gpu_cluster: tuple[Cluster, set[str]], tmp_path: Path
) -> None:
    cluster, workers = gpu_cluster
    run = drive(cluster, tmp_path, {"accelerator": "nvidia.com/gpu", "count": 1, "cpu": "1"})
    assert run.returncode == EXIT_SUCCEEDED, run.stdout + run.stderr
    assert (
        "placement: each trial asks for 1 CPU, 1 GPU; 2 of 3 nodes can hold one: 2 trials at once"
        in run.stderr
    )
    summary = sweep_summary(tmp_path)
    assert summary.status == "succeeded" and len(summary.trials) == 2
    assert {record.ray_node_id for record in summary.trials} <= workers
    assert not (tmp_path / "promoted").exists()  # the operator promotes
    for run_manifest in manifests(tmp_path).values():
        assert run_manifest.host.ray_node_id in workers and run_manifest.host.node_ip


def test_a_trial_no_worker_can_hold_fails_the_sweep_at_once(
    gpu_cluster: tuple[Cluster, set[str]], tmp_path: Path
) -> None:
    cluster, _ = gpu_cluster
    run = drive(cluster, tmp_path, {"accelerator": "nvidia.com/gpu", "count": 2, "cpu": "1"})
    assert run.returncode == EXIT_SUCCEEDED, run.stdout + run.stderr  # a verdict: KubeRay does not retry
    summary = sweep_summary(tmp_path)
    assert summary.status == "failed" and summary.trials == []
    assert summary.reason.startswith(
        "TrialDoesNotFit: resources.perTrial asks for 1 CPU, 2 GPU per trial, but no node of the Ray "
        "cluster (3 nodes) can hold one trial: the largest, "
    )
    assert summary.reason.endswith(
        ", offers 1 CPU, 1 GPU. Ask for less in resources.perTrial or give the worker nodes more"
    )
