"""Memory of one accelerator device, by accelerator type: the one table of it.

A trial shards its model over all its devices (flax_lm/mesh.py); this is the memory each of them
has, which a trial shape's forecast per device must fit in. TPU: per JAX device of each GKE
accelerator type (tpu.py's names; v3 shows each of a chip's two cores as a device of 16 GiB). GPU:
the spec names no GPU model, so it is read from the worker Pods' node selector, by the label GKE
sets (`cloud.google.com/gke-accelerator`) or NVIDIA's GPU feature discovery sets
(`nvidia.com/gpu.product`); the sizes are what the driver reports (nvidia-smi).
"""

from __future__ import annotations

from collections.abc import Mapping

TPU_DEVICE_GIB: dict[str, float] = {
    "tpu-v3-device": 16,
    "tpu-v3-slice": 16,
    "tpu-v4-podslice": 32,
    "tpu-v5-lite-device": 16,
    "tpu-v5-lite-podslice": 16,
    "tpu-v5p-slice": 95,
    "tpu-v6e-slice": 32,
}
"""Cloud TPU's per-chip HBM (https://cloud.google.com/tpu/docs/system-architecture-tpu-vm). tpu7x
is left out until its per-device figure is confirmed: its sweeps get no forecast check."""

GPU_LABELS = ("cloud.google.com/gke-accelerator", "nvidia.com/gpu.product")
GPU_DEVICE_GIB: dict[str, float] = {
    "nvidia-tesla-t4": 15,
    "Tesla-T4": 15,
    "nvidia-tesla-v100": 16,
    "Tesla-V100-SXM2-16GB": 16,
    "nvidia-l4": 22,
    "NVIDIA-L4": 22,
    "NVIDIA-A10G": 22,
    "nvidia-tesla-a100": 40,
    "NVIDIA-A100-SXM4-40GB": 40,
    "NVIDIA-A100-PCIE-40GB": 40,
    "nvidia-a100-80gb": 80,
    "NVIDIA-A100-SXM4-80GB": 80,
    "NVIDIA-A100-80GB-PCIe": 80,
    "nvidia-h100-80gb": 79,
    "nvidia-h100-mega-80gb": 79,
    "NVIDIA-H100-80GB-HBM3": 79,
    "nvidia-h200-141gb": 140,
    "NVIDIA-H200": 140,
}
"""GPU models by their node-label value (GKE's and GPU feature discovery's names)."""


def tpu_device_gib(accelerator_type: str) -> float | None:
    return TPU_DEVICE_GIB.get(accelerator_type)


def gpu_device_gib(node_selector: Mapping[str, str]) -> tuple[str, float] | None:
    """The GPU model the worker Pods' node selector asks for and its memory; None when unknown."""
    for label in GPU_LABELS:
        model = node_selector.get(label)
        if model in GPU_DEVICE_GIB:
            return model, GPU_DEVICE_GIB[model]
    return None
