"""Where a sweep's trials go, decided from what the Ray cluster's nodes offer (pure: `decide`;
`ray_runtime.placement_for` reads the nodes from Ray and logs the decision).

A trial is one Ray actor asking for `resources.perTrial` (CPU, plus `GPU` or the custom resource
`TPU`, see `resources.trial_resources`). Ray puts an actor on one node, so one trial fits a node
when the node offers every resource it asks for in full.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tunesweep_evidence.placement import worker_pods
from tunesweep_evidence.spec import TuningSweepSpec
from tunesweep_evidence.wording import counted

from .resources import trial_resources

HEAD_RESOURCE = "node:__internal_head__"
"""The resource Ray gives its head node only."""
_TUNE_TO_RAY = {"cpu": "CPU", "gpu": "GPU"}
_RAY_DECIMALS = 10_000  # Ray keeps resource amounts to 4 decimals
_EPSILON = 1e-6  # 0.1 * 3 must count as 0.3


class PlacementError(RuntimeError):
    """One trial's resources fit on no node of the Ray cluster; the message says what to change."""


@dataclass(frozen=True)
class Placement:
    """How the driver fits trials on the Ray cluster it runs on (the default: exactly the spec)."""

    max_cpu_per_trial: float | None = None
    """Clamp each trial's CPU request (local mode: `parallel` trials must fit this machine)."""
    accelerators: bool = True
    """Request the spec's GPUs/TPUs (local mode turns them off where the machine has none)."""
    concurrent_trials: int | None = None
    """How many trials the nodes hold at once (at most trials.parallel); None when not measured."""
    parallel: int | None = None
    """The spec's trials.parallel the decision was made for."""
    reason: str = ""
    """What was decided and why, one line for the user."""

    @property
    def fitted(self) -> bool:
        """The spec's request was cut down to fit this machine (local mode only)."""
        return self.max_cpu_per_trial is not None or not self.accelerators

    @property
    def short_of_parallel(self) -> bool:
        """Fewer trials than trials.parallel can run at once."""
        return (
            self.concurrent_trials is not None
            and self.parallel is not None
            and self.concurrent_trials < self.parallel
        )


@dataclass(frozen=True)
class NodeOffer:
    """One alive Ray node: its name (hostname, which is the Pod name on KubeRay) and resources."""

    name: str
    resources: Mapping[str, float] = field(default_factory=dict)

    @property
    def head(self) -> bool:
        return HEAD_RESOURCE in self.resources


def node_offers(ray_nodes: Iterable[Mapping[str, Any]]) -> list[NodeOffer]:
    """The alive nodes of `ray.nodes()`'s answer (Ray leaves out a resource a node has none of)."""
    return [
        NodeOffer(
            name=str(node.get("NodeManagerHostname") or node.get("NodeManagerAddress") or node.get("NodeID")),
            resources={name: float(amount) for name, amount in (node.get("Resources") or {}).items()},
        )
        for node in ray_nodes
        if node.get("Alive", node.get("alive", False))
    ]


def trial_request(spec: TuningSweepSpec, placement: Placement | None = None) -> dict[str, float]:
    """One trial's request in Ray's resource names (CPU, GPU, TPU), as the tuner will ask for it."""
    placement = placement or Placement()
    tune_request = trial_resources(
        spec.resources.per_trial, max_cpu=placement.max_cpu_per_trial, accelerators=placement.accelerators
    )
    return {_TUNE_TO_RAY.get(name, name): amount for name, amount in tune_request.items()}


def trials_held(node: NodeOffer, request: Mapping[str, float]) -> int:
    """How many whole trial requests one node holds."""
    counts = [
        math.floor(node.resources.get(name, 0.0) / amount + _EPSILON)
        for name, amount in request.items()
        if amount > 0
    ]
    return max(0, min(counts)) if counts else 0


def decide(nodes: Sequence[NodeOffer], spec: TuningSweepSpec, *, local: bool) -> Placement:
    """The placement of the spec's trials on these alive nodes. `local`: the Ray was started on
    this machine for this sweep (no RAY_ADDRESS).

    1. Some node can hold one trial's full request: each trial asks for exactly the spec, nothing
       clamped. This is the cluster (KubeRay's worker Pods are sized from the same spec; the head
       runs with `num-cpus: 0` when there are workers, so it holds none), and a local machine big
       enough.
    2. No node can hold one trial, on a cluster: PlacementError naming `resources.perTrial` and
       what the largest node offers (Ray would queue such trials forever).
    3. No node can hold one trial, local Ray (a laptop, a CI machine running a GPU-shaped sample):
       `trials.parallel` trials are fitted on the largest node: each trial's CPU is clamped to the
       node's CPUs / parallel, and accelerators the node lacks are not asked for; the reason says
       so. A node without CPUs, or no node at all, is a PlacementError here too.

    How many trials run at once (`concurrent_trials`): how many whole trial requests each node
    holds, summed over the nodes, at most `trials.parallel` (Tune never runs more). Fewer than
    `trials.parallel` is allowed (the others queue) and shows as `short_of_parallel`.
    """
    parallel = max(1, spec.trials.parallel)
    request = trial_request(spec)
    if not nodes:
        raise PlacementError("the Ray cluster has no alive node")
    holding = [node for node in nodes if trials_held(node, request) > 0]
    if holding:
        concurrent = min(parallel, sum(trials_held(node, request) for node in nodes))
        reason = (
            f"each trial asks for {describe(request)}; {len(holding)} of {counted(len(nodes), 'node')} can "
            f"hold one: {counted(concurrent, 'trial')} at once (trials.parallel {parallel})"
        )
        return Placement(concurrent_trials=concurrent, parallel=parallel, reason=reason)
    largest = _largest(nodes, request)
    offered = {name: largest.resources.get(name, 0.0) for name in request}
    if not local:
        raise PlacementError(
            f"resources.perTrial asks for {describe(request)} per trial, but no node of the Ray cluster "
            f"({counted(len(nodes), 'node')}) can hold one trial: the largest, {largest.name}, offers "
            f"{describe(offered)}. Ask for less in resources.perTrial or give the worker nodes more"
        )
    return _fit_locally(largest, nodes, spec, request, parallel)


def _fit_locally(
    largest: NodeOffer,
    nodes: Sequence[NodeOffer],
    spec: TuningSweepSpec,
    request: Mapping[str, float],
    parallel: int,
) -> Placement:
    cpus = largest.resources.get("CPU", 0.0)
    if cpus <= 0:
        raise PlacementError(f"the local Ray node {largest.name} offers no CPU to run trials on")
    accelerators = {name: amount for name, amount in request.items() if name != "CPU"}
    keeps = not accelerators or trials_held(largest, accelerators) > 0
    # Rounded down to Ray's precision (4 decimals): 3 trials of 2/3 CPU must fit 2 CPUs.
    share = max(1, math.floor(cpus / parallel * _RAY_DECIMALS)) / _RAY_DECIMALS
    placement = Placement(max_cpu_per_trial=share, accelerators=keeps)
    fitted = trial_request(spec, placement)
    concurrent = min(parallel, sum(trials_held(node, fitted) for node in nodes))
    dropped = "" if keeps or not accelerators else f", without {describe(accelerators)} (not on this machine)"
    reason = (
        f"this machine ({largest.name}: {describe({n: largest.resources.get(n, 0.0) for n in request})}) "
        f"cannot hold one trial of resources.perTrial ({describe(request)}): each trial runs with "
        f"{describe(fitted)}{dropped}, {concurrent} at once (trials.parallel {parallel})"
    )
    return replace(placement, concurrent_trials=concurrent, parallel=parallel, reason=reason)


def workers_joined(nodes: Sequence[NodeOffer], spec: TuningSweepSpec) -> bool:
    """Whether the cluster's worker nodes are all there: at least `placement.worker_pods` worker
    (non-head) nodes alive, as the operator renders them (KubeRay may start the driver before
    every worker Pod's Ray has joined). A head that holds a trial itself (`workers.replicas: 0`,
    or a Ray cluster not rendered by the operator) needs no workers."""
    request = trial_request(spec)
    if any(node.head and trials_held(node, request) for node in nodes):
        return True
    return sum(not node.head for node in nodes) >= worker_pods(spec)


def describe(resources: Mapping[str, float]) -> str:
    """`4 CPU, 1 GPU`."""
    return ", ".join(f"{amount:g} {name}" for name, amount in resources.items())


def _largest(nodes: Sequence[NodeOffer], request: Mapping[str, float]) -> NodeOffer:
    """The node closest to holding a trial: the most of the asked-for accelerator, then CPU."""
    accelerators = [name for name in request if name != "CPU"]

    def size(node: NodeOffer) -> tuple[float, ...]:
        return (*(node.resources.get(name, 0.0) for name in accelerators), node.resources.get("CPU", 0.0))

    return max(nodes, key=size)
