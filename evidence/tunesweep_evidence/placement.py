"""The placement model: what one trial asks Ray for, what one Ray Pod offers, and how many trials
run at once. Pure; the one source of these facts for

- validation (`violations`: the spec model, so `tunesweep validate`, the API-side operator check and
  the driver refuse alike; `warnings`: `tunesweep validate` and the operator's status),
- the renderer (`place`: worker Pods, their size and count, trials on the head, the deadline),
- the status (planned and queued trials) and the driver (a trial's Ray resources, the workers to
  wait for).

The rules:
- A trial is one Ray actor, so it runs on one Pod (one TPU host). It asks Ray for whole CPUs (the
  Pod's `num-cpus` is whole, so a fraction would let two trials share one trial's cgroup), plus
  `GPU` or `TPU` (TPU: every chip of its host).
- Each Ray Pod that runs trials is sized for exactly one trial: `perTrial` is its request.
- `workers.replicas` absent: one worker Pod per `trials.parallel` trial, so a cluster runs as many
  trials at once as the spec says (as local mode does). Fewer replicas than `parallel` queue the
  rest (a warning). `0`: the head runs the trials, one at a time, sized for one trial plus the
  driver.
- Multi-host TPU slices are refused: one trial cannot span hosts yet (see `violations`).
- Trials planned: `trials.count` passes over the grid (grid values; choice too under algorithm grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .quantity import cpu_cores, parse_quantity
from .spec_rules import Violation
from .tpu import TOPOLOGIES, TpuSlice, TpuTopologyError, largest_single_host, tpu_slice
from .wording import counted

if TYPE_CHECKING:  # spec.py imports this module for its rules
    from .spec import PerTrialResources, TuningSweepSpec

RAY_CPU, RAY_GPU, RAY_TPU = "CPU", "GPU", "TPU"
K8S_GPU, K8S_TPU = "nvidia.com/gpu", "google.com/tpu"
"""The extended resources, which are also the spec's Accelerator values (spec imports this module)."""


@dataclass(frozen=True)
class TrialPod:
    """What one Pod that runs trials asks Kubernetes for (requests = limits) and gives Ray."""

    requests: dict[str, str]
    """cpu, memory and the accelerator's extended resource (nvidia.com/gpu, google.com/tpu)."""
    ray_start_params: dict[str, str]
    """num-cpus, num-gpus (TPU: KubeRay derives `TPU` from the google.com/tpu limit)."""


@dataclass(frozen=True)
class SweepPlacement:
    trial: dict[str, float]
    """One trial's Ray resources (CPU, GPU, TPU)."""
    pod: TrialPod
    """A Pod that runs trials: each worker, or the head when `on_head`."""
    worker_pods: int
    """Worker Pods (TPU: single-host slices); 0 when the head runs the trials."""
    concurrent: int
    """Trials running at once: one per trial Pod, at most trials.parallel."""
    planned: int
    """Trials the sweep runs in all, grid passes included."""
    parallel: int
    tpu: TpuSlice | None = None

    @property
    def on_head(self) -> bool:
        return self.worker_pods == 0

    @property
    def waves(self) -> int:
        """Rounds of `concurrent` trials needed for every planned trial."""
        return math.ceil(self.planned / self.concurrent)

    def deadline_seconds(self, trial_timeout: int, slack: int) -> int:
        """Every wave at its full timeout, plus slack for provisioning and promotion."""
        return self.waves * trial_timeout + slack


def trial_request(per_trial: PerTrialResources) -> dict[str, float]:
    """One trial's Ray resources: whole CPUs, and its GPUs or TPU chips."""
    request = {RAY_CPU: float(ray_cpus(per_trial.cpu))}
    if per_trial.accelerator == K8S_GPU:
        request[RAY_GPU] = float(per_trial.count)
    elif per_trial.accelerator == K8S_TPU:
        request[RAY_TPU] = float(per_trial.count)
    return request


def ray_cpus(quantity: str) -> int:
    """Ray counts whole CPUs: a Kubernetes CPU quantity rounded up, at least 1."""
    return max(1, math.ceil(cpu_cores(quantity)))


def planned_trials(spec: TuningSweepSpec) -> int:
    """Trials Ray Tune will create: `count` samples, each a full pass over the grid (if any)."""
    grid = math.prod(
        len(dim.distributions()[dim.kind()] or [])
        for dim in spec.search_space.values()
        if enumerated(dim.kind(), spec.algorithm.name)
    )
    return spec.trials.count * grid


def enumerated(kind: str, algorithm: str) -> bool:
    """grid values always; choice values too under algorithm grid (every combination)."""
    return kind == "grid" or (kind == "choice" and algorithm == "grid")


def worker_pods(spec: TuningSweepSpec) -> int:
    """`workers.replicas`, or one worker Pod per parallel trial when it is absent."""
    replicas = spec.resources.workers.replicas
    return spec.trials.parallel if replicas is None else replicas


def violations(spec: TuningSweepSpec) -> list[Violation]:
    """Shapes that can never run, each at its field (relative to the spec) with the fix."""
    resources = spec.resources
    if resources.per_trial.accelerator == K8S_TPU and resources.tpu is not None:
        return _tpu_violations(spec)
    return []


def _tpu_violations(spec: TuningSweepSpec) -> list[Violation]:
    tpu, count = spec.resources.tpu, spec.resources.per_trial.count
    assert tpu is not None
    try:
        slice_ = tpu_slice(tpu.accelerator_type, tpu.topology)
    except TpuTopologyError as error:
        known_type = tpu.accelerator_type in TOPOLOGIES
        return [
            Violation(("resources", "tpu", "topology") if known_type else ("resources", "tpu"), str(error))
        ]
    if slice_.hosts > 1:
        return [
            Violation(
                ("resources", "tpu", "topology"),
                f"{tpu.topology} is a multi-host {tpu.accelerator_type} slice ({slice_.hosts} hosts of "
                f"{counted(slice_.chips_per_host, 'chip')}), but a trial is one process on one host and "
                f"cannot span hosts: choose a single-host topology (at most "
                f"{counted(largest_single_host(tpu.accelerator_type), 'chip')})",
            )
        ]
    if count != slice_.chips:
        return [
            Violation(
                ("resources", "perTrial", "count"),
                f"{counted(count, 'TPU chip')} per trial, but a trial takes the whole {tpu.topology} "
                f"{tpu.accelerator_type} host ({counted(slice_.chips, 'chip')}): "
                f"set count to {slice_.chips}, "
                "or choose the topology with that many chips",
            )
        ]
    return []


def warnings(spec: TuningSweepSpec) -> list[str]:
    """What runs, but not as the spec reads: fewer trials at once than trials.parallel."""
    placed = place(spec)
    if placed.concurrent >= min(placed.parallel, placed.planned):
        return []
    where = (
        "the head runs trials one at a time (workers.replicas 0)"
        if placed.on_head
        else f"{placed.worker_pods} worker Pod{'' if placed.worker_pods == 1 else 's'} (workers.replicas) "
        f"run{'s' if placed.worker_pods == 1 else ''} {placed.concurrent} at once"
    )
    return [
        f"trials.parallel is {placed.parallel}, but {where}; the other trials queue. Raise "
        "workers.replicas (or remove it: one worker Pod per parallel trial) or lower trials.parallel"
    ]


def place(spec: TuningSweepSpec) -> SweepPlacement:
    """Where the trials of a spec without `violations` run."""
    per_trial, resources = spec.resources.per_trial, spec.resources
    requests = {"cpu": per_trial.cpu, "memory": per_trial.memory}
    start_params = {"num-cpus": str(ray_cpus(per_trial.cpu))}
    slice_ = None
    if per_trial.accelerator == K8S_GPU:
        requests[K8S_GPU] = str(per_trial.count)
        start_params["num-gpus"] = str(per_trial.count)
    elif per_trial.accelerator == K8S_TPU and resources.tpu is not None:
        slice_ = tpu_slice(resources.tpu.accelerator_type, resources.tpu.topology)
        requests[K8S_TPU] = str(slice_.chips_per_host)
    pods = worker_pods(spec)
    parallel = spec.trials.parallel
    return SweepPlacement(
        trial=trial_request(per_trial),
        pod=TrialPod(requests, start_params),
        worker_pods=pods,
        concurrent=max(1, min(parallel, pods)),
        planned=planned_trials(spec),
        parallel=parallel,
        tpu=slice_,
    )


def add_quantities(a: str, b: str, *, cpu: bool) -> str:
    """`a + b` as a Kubernetes quantity: millicores for CPU; memory in Mi when whole, else bytes."""
    total = parse_quantity(a) + parse_quantity(b)
    if cpu:
        return f"{math.ceil(total * 1000)}m"
    mebibytes, rest = divmod(math.ceil(total), 2**20)
    return f"{mebibytes}Mi" if not rest else str(math.ceil(total))


def queued(planned: int, started: int) -> int:
    """Trials not started yet (waiting for a free trial Pod, or not yet sampled)."""
    return max(0, planned - started)
