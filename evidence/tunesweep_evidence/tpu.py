"""TPU slices on GKE: how many chips a topology holds and how many hosts (Pods) carry them.

chips = product of the topology's dimensions (`2x2x4` -> 16). Each host is one Kubernetes node
(one Ray worker Pod, `numOfHosts` of them per slice) and gets `google.com/tpu: <chips per host>`.

Chips per host, by GKE accelerator (node label cloud.google.com/gke-tpu-accelerator):
- 4: tpu-v3-slice, tpu-v3-device, tpu-v4-podslice, tpu-v5p-slice, tpu7x (Ironwood);
- tpu-v5-lite-podslice, tpu-v5-lite-device (v5e) and tpu-v6e-slice (Trillium): a slice of at most
  8 chips is one host with all of them (1x1, 2x2, 2x4); larger slices have 4 chips per host
  (4x4 -> 4 hosts, 8x8 -> 16).

(GKE's multi-host v5e/v6e node pools use the 4-chip machine types, ct5lp-hightpu-4t and
ct6e-standard-4t; the 8-chip machines only make single-host slices.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GKE_TPU_ACCELERATOR = "cloud.google.com/gke-tpu-accelerator"
GKE_TPU_TOPOLOGY = "cloud.google.com/gke-tpu-topology"
_FOUR_PER_HOST = frozenset({"tpu-v3-slice", "tpu-v3-device", "tpu-v4-podslice", "tpu-v5p-slice", "tpu7x"})
_SINGLE_HOST_UP_TO_8 = frozenset({"tpu-v5-lite-podslice", "tpu-v5-lite-device", "tpu-v6e-slice"})
SUPPORTED_ACCELERATORS = tuple(sorted(_FOUR_PER_HOST | _SINGLE_HOST_UP_TO_8))

_CUBES = ("2x2x1", "2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8", "4x8x8", "8x8x8", "8x8x16", "8x16x16")
_PLANES = ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16")
TOPOLOGIES: dict[str, tuple[str, ...]] = {
    "tpu-v3-device": ("2x2",),
    "tpu-v3-slice": ("4x4", "4x8", "8x8", "8x16", "16x16"),
    "tpu-v4-podslice": (*_CUBES[:8], "8x8x12", *_CUBES[8:], "12x16x16", "16x16x16"),
    "tpu-v5-lite-device": _PLANES[:3],
    "tpu-v5-lite-podslice": _PLANES,
    "tpu-v5p-slice": (*_CUBES, "16x16x16", "16x16x24"),
    "tpu-v6e-slice": _PLANES,
    "tpu7x": _CUBES,
}
"""The topologies GKE offers per accelerator (node label cloud.google.com/gke-tpu-topology), from the
topology tables of GKE's "Plan TPUs in GKE" page
(https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus) and Cloud TPU's per-version
pages. v4/v5p also take some larger custom 3-D shapes that this table leaves out: trials run on one
host (at most 4 chips there), so only the small shapes matter here."""


class TpuTopologyError(ValueError):
    """An accelerator type or topology this table does not know; the message says what is known."""


@dataclass(frozen=True)
class TpuSlice:
    accelerator_type: str
    topology: str
    chips: int
    hosts: int

    @property
    def chips_per_host(self) -> int:
        return self.chips // self.hosts


def tpu_slice(accelerator_type: str, topology: str) -> TpuSlice:
    chips = topology_chips(topology)
    offered = TOPOLOGIES.get(accelerator_type)
    # Every offered topology is a whole number of hosts (tests/evidence/test_placement.py checks the table).
    if offered is not None and topology not in offered:
        single = [t for t in offered if topology_chips(t) <= largest_single_host(accelerator_type)]
        raise TpuTopologyError(
            f"topology {topology} does not exist for {accelerator_type}: choose one GKE offers, "
            f"{', '.join(offered)} (single-host, as a trial needs: {', '.join(single) or 'none'})"
        )
    if accelerator_type in _FOUR_PER_HOST:
        per_host = 4
    elif accelerator_type in _SINGLE_HOST_UP_TO_8:
        per_host = chips if chips <= 8 else 4
    else:
        raise TpuTopologyError(
            f"unknown TPU accelerator type {accelerator_type!r}; known: {', '.join(SUPPORTED_ACCELERATORS)}"
        )
    return TpuSlice(accelerator_type, topology, chips, chips // per_host)


def largest_single_host(accelerator_type: str) -> int:
    """The most chips one host of this accelerator carries (the largest single-host slice)."""
    return 8 if accelerator_type in _SINGLE_HOST_UP_TO_8 else 4


def topology_chips(topology: str) -> int:
    parts = topology.lower().split("x")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise TpuTopologyError(f"topology {topology!r} is not like 2x2 or 2x2x4")
    return math.prod(int(p) for p in parts)
