"""The placement model: refusals, concurrency, planned trials, Pod sizes (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from tunesweep_evidence import placement
from tunesweep_evidence import tpu as tpu_table
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_evidence.sweep_manifest import SpecError, parse_sweep

BASE: dict[str, Any] = {
    "trainer": {"baseConfig": {"training": {"max_steps": 100}}},
    "searchSpace": {"training.learning_rate": {"loguniform": [1e-4, 1e-2]}},
}
TPU = "google.com/tpu"


def spec(**fields: Any) -> TuningSweepSpec:
    return TuningSweepSpec.model_validate({**BASE, **fields})


def refusals(**fields: Any) -> list[str]:
    body = {"apiVersion": "tunesweep.dev/v1alpha1", "kind": "TuningSweep", "metadata": {"name": "s"}}
    with pytest.raises(SpecError) as caught:
        parse_sweep({**body, "spec": {**BASE, **fields}})
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def tpu(accelerator_type: str, topology: str, count: int, **workers: Any) -> dict[str, Any]:
    return {
        "perTrial": {"accelerator": TPU, "count": count, "cpu": "8"},
        "tpu": {"acceleratorType": accelerator_type, "topology": topology},
        "workers": workers,
    }


@pytest.mark.parametrize(
    ("accelerator_type", "topology", "hosts"),
    [("tpu-v6e-slice", "4x4", 4), ("tpu-v5p-slice", "2x2x2", 2), ("tpu-v5-lite-podslice", "8x8", 16)],
)
def test_multi_host_slices_are_refused_naming_the_topology(
    accelerator_type: str, topology: str, hosts: int
) -> None:
    chips = 4 * hosts
    (problem,) = refusals(resources=tpu(accelerator_type, topology, chips))
    assert problem.startswith("spec.resources.tpu.topology:"), problem
    assert f"multi-host {accelerator_type} slice ({hosts} hosts of 4 chips)" in problem
    assert "choose a single-host topology" in problem


def test_a_trial_takes_every_chip_of_its_host() -> None:
    (problem,) = refusals(resources=tpu("tpu-v6e-slice", "2x2", 2))
    assert problem.startswith("spec.resources.perTrial.count:"), problem
    assert "set count to 4" in problem


def test_unknown_tpu_types_and_topologies_are_refused() -> None:
    (unknown,) = refusals(resources=tpu("tpu-v9", "2x2", 4))
    assert "unknown TPU accelerator type 'tpu-v9'" in unknown and unknown.startswith("spec.resources.tpu:")
    (missing,) = refusals(resources=tpu("tpu-v4-podslice", "1x1x2", 2))
    assert missing.startswith(
        "spec.resources.tpu.topology: topology 1x1x2 does not exist for tpu-v4-podslice"
    )
    assert "(single-host, as a trial needs: 2x2x1)" in missing
    (plane,) = refusals(resources=tpu("tpu-v6e-slice", "2x2x1", 4))
    assert "choose one GKE offers, 1x1, 2x2, 2x4, 4x4" in plane
    (odd,) = refusals(resources=tpu("tpu-v5-lite-podslice", "3x3", 9))
    assert "topology 3x3 does not exist for tpu-v5-lite-podslice" in odd


@pytest.mark.parametrize(
    ("accelerator_type", "topology", "chips"),
    [("tpu-v5-lite-podslice", "1x1", 1), ("tpu-v6e-slice", "2x4", 8), ("tpu-v4-podslice", "2x2x1", 4)],
)
def test_single_host_topologies_gke_offers_are_accepted(
    accelerator_type: str, topology: str, chips: int
) -> None:
    placed = placement.place(spec(resources=tpu(accelerator_type, topology, chips)))
    assert placed.tpu is not None and (placed.tpu.chips, placed.tpu.hosts) == (chips, 1)


@pytest.mark.parametrize(
    ("cpu", "ok"), [("1k", True), ("500m", True), ("1.5", True), ("0", False), ("four", False)]
)
def test_one_cpu_parser_decides_what_a_quantity_is(cpu: str, ok: bool) -> None:
    if ok:
        spec(resources={"perTrial": {"cpu": cpu}})
    else:
        assert any(
            p.startswith("spec.resources.perTrial.cpu:")
            for p in refusals(resources={"perTrial": {"cpu": cpu}})
        )


@pytest.mark.parametrize(
    ("quantity", "cpus"), [("4", 4), ("1.5", 2), ("500m", 1), ("2500m", 3), ("1k", 1000)]
)
def test_ray_counts_whole_cpus(quantity: str, cpus: int) -> None:
    assert placement.ray_cpus(quantity) == cpus


def test_workers_default_to_parallel_and_concurrency_follows_the_pods() -> None:
    default = placement.place(spec(trials={"count": 8, "parallel": 3}))
    assert (default.worker_pods, default.concurrent, default.planned, default.waves) == (3, 3, 8, 3)
    fewer = placement.place(spec(trials={"count": 8, "parallel": 3}, resources={"workers": {"replicas": 2}}))
    assert (fewer.worker_pods, fewer.concurrent, fewer.waves) == (2, 2, 4)
    more = placement.place(spec(trials={"count": 8, "parallel": 3}, resources={"workers": {"replicas": 5}}))
    assert more.concurrent == 3  # Tune never runs more than trials.parallel
    head = placement.place(spec(trials={"count": 8, "parallel": 3}, resources={"workers": {"replicas": 0}}))
    assert (head.on_head, head.concurrent, head.waves) == (True, 1, 8)
    assert head.deadline_seconds(trial_timeout=100, slack=10) == 8 * 100 + 10


def test_grids_count_in_the_planned_trials() -> None:
    grid = spec(
        searchSpace={
            "training.learning_rate": {"grid": [1e-4, 1e-3, 1e-2, 1e-1]},
            "training.max_steps": {"grid": [1, 2, 3]},
        },
        trials={"count": 1, "parallel": 2},
    )
    assert placement.planned_trials(grid) == 12
    assert placement.place(grid).waves == 6


def test_fewer_pods_than_parallel_is_a_warning_not_an_error() -> None:
    assert placement.warnings(spec(trials={"count": 4, "parallel": 2})) == []
    (warning,) = placement.warnings(
        spec(trials={"count": 4, "parallel": 2}, resources={"workers": {"replicas": 1}})
    )
    assert "trials.parallel is 2, but 1 worker Pod (workers.replicas) runs 1 at once" in warning
    (on_head,) = placement.warnings(
        spec(trials={"count": 4, "parallel": 2}, resources={"workers": {"replicas": 0}})
    )
    assert "the head runs trials one at a time" in on_head
    # one trial in all: nothing to run in parallel with
    assert (
        placement.warnings(spec(trials={"count": 1, "parallel": 1}, resources={"workers": {"replicas": 0}}))
        == []
    )


def test_pod_sizes_and_trial_requests_agree() -> None:
    gpu = placement.place(
        spec(resources={"perTrial": {"accelerator": "nvidia.com/gpu", "count": 2, "cpu": "3500m"}})
    )
    assert gpu.trial == {"CPU": 4.0, "GPU": 2.0}
    assert gpu.pod.requests == {"cpu": "3500m", "memory": "4Gi", "nvidia.com/gpu": "2"}
    assert gpu.pod.ray_start_params == {"num-cpus": "4", "num-gpus": "2"}
    v6e = placement.place(spec(resources=tpu("tpu-v6e-slice", "2x4", 8)))
    assert v6e.trial == {"CPU": 8.0, "TPU": 8.0}
    assert v6e.pod.requests["google.com/tpu"] == "8" and v6e.tpu is not None and v6e.tpu.hosts == 1


def test_quantities_add_up_exactly() -> None:
    assert placement.add_quantities("1500m", "1", cpu=True) == "2500m"
    assert placement.add_quantities("8Gi", "2Gi", cpu=False) == "10240Mi"
    assert placement.add_quantities("1G", "500M", cpu=False) == "1500000000"


def test_every_topology_gke_offers_is_a_whole_number_of_hosts() -> None:
    for accelerator_type, topologies in tpu_table.TOPOLOGIES.items():
        for topology in topologies:
            found = tpu_table.tpu_slice(accelerator_type, topology)
            assert found.chips == found.hosts * found.chips_per_host, (accelerator_type, topology)
            assert found.chips_per_host <= tpu_table.largest_single_host(accelerator_type)
