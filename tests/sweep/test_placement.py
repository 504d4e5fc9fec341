"""Where trials go, decided from what the Ray nodes offer: the pure decision, and the thin call that
reads the nodes from Ray (its `ray.nodes()` replaced by the nodes a test describes)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_trainer.sweep import ray_runtime
from tunesweep_trainer.sweep.driver import EXIT_INVALID, drive_on
from tunesweep_trainer.sweep.placement import (
    HEAD_RESOURCE,
    NodeOffer,
    Placement,
    PlacementError,
    decide,
    node_offers,
    trial_request,
    workers_joined,
)
from tunesweep_trainer.sweep.ray_runtime import RaySession, placement_for

from tests.sweep.sweeps import frozen_plan, sweep_manifest, sweep_summary

HEAD = NodeOffer("sweep-head-x7k2p", {HEAD_RESOURCE: 1.0, "memory": 8e9})
"""The operator's head with workers: `num-cpus: 0`, so Ray lists no CPU for it."""


def spec(per_trial: dict[str, Any], parallel: int = 2, replicas: int = 1) -> TuningSweepSpec:
    manifest = sweep_manifest(
        trials={"count": 16, "parallel": parallel, "maxFailed": 0, "timeoutSeconds": 60},
        resources={"perTrial": per_trial, "workers": {"replicas": replicas}}
        | ({"tpu": TPU_SLICE} if per_trial.get("accelerator") == "google.com/tpu" else {}),
    )
    return TuningSweepSpec.model_validate(manifest["spec"])


GPU_TRIAL = {"accelerator": "nvidia.com/gpu", "count": 1, "cpu": "4"}
TPU_TRIAL = {"accelerator": "google.com/tpu", "count": 4, "cpu": "8"}
TPU_SLICE = {"acceleratorType": "tpu-v6e-slice", "topology": "2x2"}


def worker(name: str, **resources: float) -> NodeOffer:
    return NodeOffer(name, {f"node:10.0.0.{len(name)}": 1.0, "memory": 16e9, **resources})


def test_gpu_workers_get_exactly_the_spec_and_the_head_none() -> None:
    nodes = [HEAD, worker("w-a", CPU=4, GPU=1), worker("w-b", CPU=4, GPU=1)]
    placement = decide(nodes, spec(GPU_TRIAL, parallel=2, replicas=2), local=False)
    assert (placement.max_cpu_per_trial, placement.accelerators) == (None, True)
    assert (placement.concurrent_trials, placement.parallel) == (2, 2)
    assert not placement.fitted and not placement.short_of_parallel
    assert (
        placement.reason
        == "each trial asks for 4 CPU, 1 GPU; 2 of 3 nodes can hold one: 2 trials at once (trials.parallel 2)"
    )


def test_tpu_workers_hold_one_trial_each_and_fewer_than_parallel_is_reported() -> None:
    nodes = [HEAD, worker("tpu-a", CPU=8, TPU=4), worker("tpu-b", CPU=8, TPU=4)]
    placement = decide(nodes, spec(TPU_TRIAL, parallel=4, replicas=2), local=False)
    assert trial_request(spec(TPU_TRIAL)) == {"CPU": 8.0, "TPU": 4.0}
    assert (placement.max_cpu_per_trial, placement.accelerators) == (None, True)
    assert placement.concurrent_trials == 2 and placement.short_of_parallel


@pytest.mark.parametrize(("parallel", "concurrent"), [(3, 3), (8, 8), (12, 8)])
def test_cpu_workers_hold_several_trials_each_up_to_parallel(parallel: int, concurrent: int) -> None:
    nodes = [HEAD, worker("w-a", CPU=8), worker("w-b", CPU=9)]
    placement = decide(nodes, spec({"cpu": "2"}, parallel=parallel), local=False)
    assert placement.max_cpu_per_trial is None and placement.concurrent_trials == concurrent


def test_a_fractional_cpu_trial_asks_for_a_whole_cpu() -> None:
    # One trial per whole CPU, as its Pod's num-cpus offers: two trials never share a 500m cgroup.
    placement = decide([worker("w-a", CPU=3)], spec({"cpu": "500m"}, parallel=8), local=False)
    assert placement.concurrent_trials == 3


def test_on_a_cluster_a_trial_that_fits_no_node_fails_naming_the_spec_and_the_largest_node() -> None:
    nodes = [HEAD, worker("w-small", CPU=2, GPU=1), worker("w-cpu", CPU=16)]
    with pytest.raises(PlacementError) as raised:
        decide(nodes, spec(GPU_TRIAL), local=False)
    assert str(raised.value) == (
        "resources.perTrial asks for 4 CPU, 1 GPU per trial, but no node of the Ray cluster (3 nodes) "
        "can hold one trial: the largest, w-small, offers 2 CPU, 1 GPU. Ask for less in "
        "resources.perTrial or give the worker nodes more"
    )


def test_on_a_cluster_a_tpu_trial_on_gpu_workers_fails() -> None:
    with pytest.raises(PlacementError, match=r"asks for 8 CPU, 4 TPU .* offers 8 CPU, 0 TPU"):
        decide([HEAD, worker("w-a", CPU=8, GPU=4)], spec(TPU_TRIAL), local=False)


def test_a_head_with_zero_cpus_alone_holds_no_trial() -> None:
    with pytest.raises(
        PlacementError, match=r"\(1 node\) can hold one trial: the largest, sweep-head-x7k2p, offers 0 CPU"
    ):
        decide([HEAD], spec({"cpu": "1"}), local=False)
    assert not workers_joined([HEAD], spec({"cpu": "1"}, replicas=1))


def test_a_local_machine_too_small_fits_parallel_trials_without_its_missing_gpu() -> None:
    laptop = NodeOffer("laptop", {HEAD_RESOURCE: 1.0, "CPU": 2.0})
    placement = decide([laptop], spec(GPU_TRIAL, parallel=2), local=True)
    assert (placement.max_cpu_per_trial, placement.accelerators) == (1.0, False)
    assert placement.concurrent_trials == 2 and placement.fitted and not placement.short_of_parallel
    assert placement.reason == (
        "this machine (laptop: 2 CPU, 0 GPU) cannot hold one trial of resources.perTrial (4 CPU, 1 GPU): "
        "each trial runs with 1 CPU, without 1 GPU (not on this machine), 2 at once (trials.parallel 2)"
    )
    assert trial_request(spec(GPU_TRIAL), placement) == {"CPU": 1.0}


def test_a_local_machine_keeps_the_accelerators_it_has() -> None:
    box = NodeOffer("box", {HEAD_RESOURCE: 1.0, "CPU": 2.0, "GPU": 2.0})
    placement = decide([box], spec(GPU_TRIAL, parallel=2), local=True)
    assert (placement.max_cpu_per_trial, placement.accelerators, placement.concurrent_trials) == (
        1.0,
        True,
        2,
    )


def test_a_local_cpu_share_is_rounded_down_to_what_ray_can_fit() -> None:
    placement = decide([NodeOffer("ci", {"CPU": 2.0})], spec({"cpu": "4"}, parallel=3), local=True)
    assert placement.max_cpu_per_trial == 0.6666 and placement.concurrent_trials == 3


def test_a_local_machine_big_enough_gets_exactly_the_spec() -> None:
    workstation = NodeOffer("ws", {HEAD_RESOURCE: 1.0, "CPU": 16.0, "GPU": 2.0})
    placement = decide([workstation], spec(GPU_TRIAL, parallel=4), local=True)
    assert (placement.max_cpu_per_trial, placement.accelerators) == (None, True)
    assert placement.concurrent_trials == 2 and placement.short_of_parallel and not placement.fitted


def test_a_local_node_without_cpus_is_refused() -> None:
    with pytest.raises(PlacementError, match="offers no CPU"):
        decide([NodeOffer("empty", {"TPU": 1.0})], spec({"cpu": "1"}), local=True)


def test_no_node_at_all_is_refused() -> None:
    with pytest.raises(PlacementError, match="no alive node"):
        decide([], spec({"cpu": "1"}), local=True)


def ray_node(node_id: str, hostname: str, alive: bool = True, **resources: float) -> dict[str, Any]:
    return {
        "NodeID": node_id,
        "Alive": alive,
        "NodeManagerAddress": "10.0.0.9",
        "NodeManagerHostname": hostname,
        "Resources": resources,
    }


def test_node_offers_are_the_alive_nodes_named_by_hostname() -> None:
    offers = node_offers([ray_node("a1", "w-a", CPU=4), ray_node("b2", "w-gone", alive=False, CPU=4)])
    assert offers == [NodeOffer("w-a", {"CPU": 4.0})]


def test_workers_joined_counts_worker_nodes_unless_the_head_holds_trials() -> None:
    cpu = spec({"cpu": "1"}, replicas=2)
    assert not workers_joined([HEAD, worker("w-a", CPU=1)], cpu)
    assert workers_joined([HEAD, worker("w-a", CPU=1), worker("w-b", CPU=1)], cpu)
    head_with_cpus = NodeOffer("head", {HEAD_RESOURCE: 1.0, "CPU": 4.0})
    assert workers_joined([head_with_cpus], cpu)  # a Ray cluster whose head runs trials itself
    assert workers_joined([head_with_cpus], spec({"cpu": "1"}, replicas=0))


HEAD_NODE = ray_node("h0", "sweep-head-x7k2p", **{HEAD_RESOURCE: 1.0})
GPU_WORKERS = [ray_node("w1", "w-a", CPU=4, GPU=1), ray_node("w2", "w-b", CPU=4, GPU=1)]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[dict[str, Any]]]]:
    """What `ray.nodes()` answers, call after call (the last answer repeats)."""
    answers: list[list[dict[str, Any]]] = []

    def nodes() -> list[dict[str, Any]]:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    monkeypatch.setattr(ray_runtime.ray, "nodes", nodes)
    monkeypatch.setattr(ray_runtime, "_NODE_POLL_S", 0.01)
    yield answers


def test_a_cluster_driver_waits_for_the_workers_to_join(
    cluster: list[list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    cluster += [[HEAD_NODE], [HEAD_NODE, GPU_WORKERS[0]], [HEAD_NODE, *GPU_WORKERS]]
    with caplog.at_level(logging.INFO, logger="tunesweep_trainer"):
        placement = placement_for(RaySession(local=False), spec(GPU_TRIAL, parallel=2, replicas=2), wait_s=30)
    assert placement == Placement(concurrent_trials=2, parallel=2, reason=placement.reason)
    assert (
        "waiting up to 30 s for the Ray cluster's worker nodes to join (1 alive: sweep-head-x7k2p)"
        in caplog.text
    )
    assert f"placement: {placement.reason}" in caplog.text
    assert "WARNING" not in {record.levelname for record in caplog.records}


def test_fewer_concurrent_trials_than_parallel_is_a_warning_naming_both(
    cluster: list[list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    cluster.append([HEAD_NODE, *GPU_WORKERS])
    with caplog.at_level(logging.INFO, logger="tunesweep_trainer"):
        placement_for(RaySession(local=False), spec(GPU_TRIAL, parallel=5, replicas=2), wait_s=0)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "only 2 trials can run at once on this Ray cluster, fewer than trials.parallel 5: "
        "the others wait for a free node"
    ]


def test_a_cluster_where_no_node_ever_holds_a_trial_fails_after_the_wait(
    cluster: list[list[dict[str, Any]]],
) -> None:
    cluster.append([HEAD_NODE, ray_node("w1", "w-a", CPU=2)])
    with pytest.raises(PlacementError, match=r"resources\.perTrial asks for 4 CPU, 1 GPU per trial"):
        placement_for(RaySession(local=False), spec(GPU_TRIAL), wait_s=0.05)


def test_a_local_session_decides_at_once_and_warns_when_it_fits_the_machine(
    cluster: list[list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    cluster.append([ray_node("n0", "ci-box", CPU=2, **{HEAD_RESOURCE: 1.0})])
    with caplog.at_level(logging.INFO, logger="tunesweep_trainer"):
        placement = placement_for(RaySession(local=True), spec(GPU_TRIAL, parallel=2), wait_s=30)
    assert placement.fitted and placement.max_cpu_per_trial == 1.0
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "cannot hold one trial of resources.perTrial" in caplog.text


def test_the_driver_refuses_a_sweep_whose_trial_fits_no_node(
    cluster: list[list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.append([HEAD_NODE, ray_node("w1", "w-a", CPU=8)])
    monkeypatch.setenv(ray_runtime.NODE_WAIT_ENV, "0")
    plan = frozen_plan(tmp_path, sweep_manifest(resources={"perTrial": GPU_TRIAL}))
    result = drive_on(RaySession(local=False), plan, promote=False)
    assert result.exit_code == EXIT_INVALID
    summary = sweep_summary(tmp_path)
    assert summary.status == "failed" and summary.trials == []
    assert summary.reason.startswith(
        "TrialDoesNotFit: resources.perTrial asks for 4 CPU, 1 GPU per trial, but no node of the Ray "
        "cluster (2 nodes) can hold one trial: the largest, w-a, offers 8 CPU, 0 GPU."
    )
