"""Kubernetes-style conditions: one per type; lastTransitionTime moves only when the status flips."""

from __future__ import annotations

from tunesweep_evidence.spec import Condition

READY = "Ready"
"""True once the best config is promoted; False with the phase (or failure) as reason until then."""
FAILED = "Failed"
"""True when the sweep ended without promoting; the reason says why."""
EVIDENCE_REACHABLE = "EvidenceReachable"
"""Whether the operator could last read/write the evidence location."""
KUBERAY_READY = "KubeRayReady"
"""False while KubeRay's CRDs are missing (the sweep waits, Pending); True once they are found."""
SPEC_APPLIED = "SpecApplied"
"""False when the spec changed after the plan was frozen (the sweep keeps running the frozen plan)."""

MAX_MESSAGE = 1024


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    *,
    generation: int,
    now: str,
) -> list[Condition]:
    """`conditions` with `type_` set; `status` None means Unknown. Other types keep their order."""
    value = "Unknown" if status is None else str(status)
    previous = next((c for c in conditions if c.type == type_), None)
    since = previous.last_transition_time if previous is not None and previous.status == value else now
    updated = Condition(
        type=type_,
        status=value,
        reason=reason,
        message=short(message),
        last_transition_time=since,
        observed_generation=generation,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type_ else c for c in conditions]


def find(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def short(message: str, limit: int = MAX_MESSAGE) -> str:
    """Long messages (KubeRay's carry up to 20,000 chars of logs) keep their start and their end."""
    if len(message) <= limit:
        return message
    head = limit // 4
    return f"{message[:head]} ... {message[-(limit - head - 5) :]}"
