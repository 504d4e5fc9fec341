"""What one trial asks Ray for, from `spec.resources.perTrial`.

GPUs are Ray's `GPU` resource; TPU chips are the custom resource `TPU` (what Ray's TPU
accelerator manager registers on TPU nodes). Memory is not requested from Ray: Ray's memory
resource is only a bookkeeping number, while the pod's memory limit (set by the operator) is
what actually bounds a trial.
"""

from __future__ import annotations

from tunesweep_evidence.spec import Accelerator, PerTrialResources

from .plan import PlanError


def cpu_quantity(quantity: str) -> float:
    """A Kubernetes CPU quantity (`"4"`, `"1.5"`, `"500m"`) in cores."""
    text = quantity.strip()
    try:
        cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise PlanError(
            f"resources.perTrial.cpu {quantity!r} is not a CPU quantity (e.g. 4, 1.5, 500m)"
        ) from None
    if cores <= 0:
        raise PlanError(f"resources.perTrial.cpu {quantity!r} must be positive")
    return cores


def trial_resources(
    per_trial: PerTrialResources, *, max_cpu: float | None = None, accelerators: bool = True
) -> dict[str, float]:
    """Ray resources of one trial; `max_cpu` clamps the CPU request and `accelerators=False` drops
    GPU/TPU requests (local mode fits `parallel` trials on this machine)."""
    cpu = cpu_quantity(per_trial.cpu)
    if max_cpu is not None:
        cpu = min(cpu, max_cpu)
    resources = {"cpu": cpu}
    if not accelerators:
        return resources
    if per_trial.accelerator == Accelerator.nvidia_gpu and per_trial.count:
        resources["gpu"] = float(per_trial.count)
    elif per_trial.accelerator == Accelerator.google_tpu and per_trial.count:
        resources["TPU"] = float(per_trial.count)
    return resources
