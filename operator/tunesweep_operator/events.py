"""Which Kubernetes Events a status change deserves. Pure.

Events follow transitions (a phase entered, a condition flipped), never retries, so a bucket that
stays down for an hour makes one Warning, and its recovery one Normal.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesweep_evidence.spec import Condition, Phase, TuningSweepStatus

from . import conditions as cond


@dataclass(frozen=True)
class Event:
    type: str
    """Normal or Warning."""
    reason: str
    message: str


def transition_events(old: TuningSweepStatus, new: TuningSweepStatus) -> list[Event]:
    events = [
        *_flips(
            old,
            new,
            cond.EVIDENCE_REACHABLE,
            Event("Normal", "BucketReachable", "the evidence location is reachable again"),
        ),
        *_flips(
            old, new, cond.KUBERAY_READY, Event("Normal", "KubeRayFound", "KubeRay's CRDs are installed")
        ),
    ]
    spec_applied = cond.find(new.conditions, cond.SPEC_APPLIED)
    if spec_applied is not None and spec_applied.status == "False":
        before = cond.find(old.conditions, cond.SPEC_APPLIED)
        if before is None or before.message != spec_applied.message:
            events.append(Event("Warning", spec_applied.reason, spec_applied.message))
    if new.phase is not old.phase and _phase_event(new) not in events:
        events.append(_phase_event(new))  # once: a failure may say what a condition just said
    return events


def _flips(old: TuningSweepStatus, new: TuningSweepStatus, type_: str, recovered: Event) -> list[Event]:
    """A Warning when condition `type_` turns False, `recovered` when it turns True from False."""
    before = cond.find(old.conditions, type_)
    now = cond.find(new.conditions, type_)
    if now is not None and now.status == "False" and _flipped(before, "False"):
        return [Event("Warning", now.reason, now.message)]
    if now is not None and now.status == "True" and _was(before, "False"):
        return [recovered]
    return []


def _phase_event(new: TuningSweepStatus) -> Event:
    if new.phase is Phase.failed:
        failed = cond.find(new.conditions, cond.FAILED)
        return Event("Warning", failed.reason if failed else "Failed", failed.message if failed else "")
    ready = cond.find(new.conditions, cond.READY)
    return Event("Normal", ready.reason if ready else new.phase.value, ready.message if ready else "")


def _flipped(before: Condition | None, status: str) -> bool:
    return before is None or before.status != status


def _was(before: Condition | None, status: str) -> bool:
    return before is not None and before.status == status
