"""What one trial asks Ray Tune for: the placement model's request (`tunesweep_evidence.placement`)
in Tune's resource names.

GPUs are Ray's `GPU` resource; TPU chips are the custom resource `TPU` (what Ray's TPU
accelerator manager registers on TPU nodes). Memory is not requested from Ray: Ray's memory
resource is only a bookkeeping number, while the pod's memory limit (set by the operator) is
what actually bounds a trial.
"""

from __future__ import annotations

from tunesweep_evidence.placement import RAY_CPU, RAY_GPU, RAY_TPU, trial_request
from tunesweep_evidence.spec import PerTrialResources


def trial_resources(
    per_trial: PerTrialResources, *, max_cpu: float | None = None, accelerators: bool = True
) -> dict[str, float]:
    """Ray Tune resources of one trial; `max_cpu` clamps the CPU request and `accelerators=False` drops
    GPU/TPU requests (local mode fits `parallel` trials on this machine)."""
    request = trial_request(per_trial)
    resources = {"cpu": request[RAY_CPU] if max_cpu is None else min(request[RAY_CPU], max_cpu)}
    if accelerators and RAY_GPU in request:
        resources["gpu"] = request[RAY_GPU]
    if accelerators and RAY_TPU in request:
        resources["TPU"] = request[RAY_TPU]
    return resources
