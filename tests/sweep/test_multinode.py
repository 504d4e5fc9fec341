"""`tunesweep drive` on a multi-node Ray cluster shaped as the operator renders it: a head with no
CPUs (it runs the driver, never a trial) and two worker nodes with one logical GPU each. Ray's own
test cluster runs the nodes as processes on this machine (no Kubernetes)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray.cluster_utils import Cluster
from tunesweep_evidence import layout
from tunesweep_trainer.sweep.driver import EXIT_INTERRUPTED, EXIT_SUCCEEDED
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


def drive_command(cluster: Cluster, out: Path, per_trial: dict[str, object], **spec: Any) -> dict[str, Any]:
    """Popen's arguments for the driver of a sweep on the cluster's workers, its plan frozen in `out`."""
    resources = {"perTrial": per_trial, "workers": {"replicas": 2}}
    plan = frozen_plan(out, sweep_manifest(resources=resources, **spec))
    return {
        "args": [TUNESWEEP, "drive", "--plan", layout.join(plan.evidence_uri, layout.PLAN)],
        "env": os.environ | {"RAY_ADDRESS": cluster.address, NODE_WAIT_ENV: "1"},
        "text": True,
    }


def drive(cluster: Cluster, out: Path, per_trial: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(**drive_command(cluster, out, per_trial), capture_output=True, timeout=300)


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


def test_ctrl_c_marks_the_trials_running_on_the_workers_interrupted(
    gpu_cluster: tuple[Cluster, set[str]], tmp_path: Path
) -> None:
    # The driver, on the head, waits for the trial processes on the workers to end before it marks
    # their trials interrupted: a stopped trial process writes its own end (early_stopped) late.
    cluster, workers = gpu_cluster
    long_trials = {
        "backend": "mock",
        "baseConfig": {"training": {"max_steps": 3000, "report_every_steps": 10}},
    }
    command = drive_command(
        cluster, tmp_path, {"accelerator": "nvidia.com/gpu", "count": 1}, trainer=long_trials
    )
    driver = subprocess.Popen(
        **command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while not both_checkpointed(tmp_path):
            assert driver.poll() is None, driver.stdout.read() if driver.stdout else ""
            assert time.monotonic() < deadline, "the two trials did not both save a checkpoint in time"
            time.sleep(0.2)
        driver.send_signal(signal.SIGINT)  # as Ctrl-C
        output, _ = driver.communicate(timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == EXIT_INTERRUPTED, output
    assert "waiting for the stopped trials' processes to end (2, on 2 Ray nodes)" in output
    assert "still running" not in output, output  # each worker's watcher saw its trial's process end
    runs = manifests(tmp_path)
    assert {run.status for run in runs.values()} == {"interrupted"}, output
    assert {run.host.ray_node_id for run in runs.values()} == workers
    assert {record.status for record in sweep_summary(tmp_path).trials} == {"interrupted"}


def both_checkpointed(out: Path) -> bool:
    running = manifests(out, so_far=True).values()
    return len([run for run in running if run.status == "running" and run.checkpoints]) == 2
