"""The sweep's `.status`, computed from what the operator observed. Pure: no clock, no API.

Phases: Pending -> Provisioning (RayJob created, cluster coming up, queued or retrying) -> Running
(the Ray job runs) -> Promoting (the Ray job succeeded) -> Succeeded; any of them -> Failed.
Succeeded and Failed are final: nothing observed later moves a sweep out of them.

The driver's sweep_summary.json outranks KubeRay (`outcome`): a summary means the driver runs, and a
final one is the verdict whatever KubeRay says. Under Ray's token auth KubeRay v1.5 cannot read the
job's end at all (it polls the job API without a token), and a driver that recorded its verdict has
nothing left to do even if its cluster failed afterwards.

Conditions (see `conditions.py`): Ready, Failed, EvidenceReachable, KubeRayReady, SpecApplied.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tunesweep_evidence.budget import short_spend
from tunesweep_evidence.documents import SweepBudget, SweepSummary
from tunesweep_evidence.placement import SweepPlacement, queued
from tunesweep_evidence.spec import (
    BestTrial,
    BudgetStatus,
    Phase,
    Promoted,
    RayJobStatus,
    TrialCounts,
    TuningSweepStatus,
)

from . import conditions as cond

FINAL_PHASES = frozenset({Phase.succeeded, Phase.failed})

# Reasons of our own; failures of the Ray job carry KubeRay's (AppFailed, DeadlineExceeded, ...).
INVALID_SPEC = "InvalidSpec"
BUCKET_UNREACHABLE = "BucketUnreachable"
FILE_EVIDENCE_NOT_SHARED = "FileEvidenceNotShared"
KUBERAY_MISSING = "KubeRayMissing"
CONFIG_MAP_CONFLICT = "ConfigMapConflict"
RAYJOB_CONFLICT = "RayJobConflict"
RAYJOB_DELETED = "RayJobDeleted"
RAYJOB_FAILED = "RayJobFailed"
SWEEP_FAILED = "SweepFailed"
API_REFUSED = "ApiRefused"
RAY_SERVICE_ACCOUNT_MISSING = "RayServiceAccountMissing"
PROMOTED = "Promoted"
QUEUED = "Queued"
RETRYING = "Retrying"
SPEC_CHANGED = "SpecChangedAfterStart"
_DRIVER_CODE = re.compile(r"[A-Z][A-Za-z]+")


@dataclass(frozen=True)
class Clock:
    """When and at which generation a status is computed (the shell supplies both)."""

    generation: int
    now: str


@dataclass(frozen=True)
class RayJobOutcome:
    phase: Phase
    reason: str
    message: str


def parse_status(raw: dict[str, Any] | None) -> TuningSweepStatus:
    return TuningSweepStatus.model_validate(raw or {})


def dump_status(status: TuningSweepStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def is_final(status: TuningSweepStatus) -> bool:
    return status.phase in FINAL_PHASES


def started(
    prev: TuningSweepStatus,
    *,
    evidence_uri: str,
    rayjob_name: str,
    placed: SweepPlacement,
    clock: Clock,
) -> TuningSweepStatus:
    """The plan is frozen and the RayJob exists (created now, or adopted on resume)."""
    new = _touched(prev, clock)
    new.evidence_uri = evidence_uri
    new.trials = new.trials.model_copy(update={"planned": placed.planned, "concurrent": placed.concurrent})
    new.trials.queued = queued(new.trials.planned, _started(new.trials))
    new.ray_job = (prev.ray_job or RayJobStatus()).model_copy(update={"name": rayjob_name})
    new.start_time = prev.start_time or clock.now
    new = evidence_reachable(new, clock)
    if not any(c.type == cond.SPEC_APPLIED for c in new.conditions):
        new.conditions = cond.set_condition(
            new.conditions,
            cond.SPEC_APPLIED,
            True,
            "PlanFrozen",
            "the plan was frozen from this spec",
            generation=clock.generation,
            now=clock.now,
        )
    if prev.phase is Phase.pending:
        new = _in_phase(
            new,
            Phase.provisioning,
            "Provisioning",
            f"RayJob {rayjob_name} created; waiting for its Ray cluster",
            clock,
        )
    return new


def rayjob_outcome(rayjob_status: dict[str, Any]) -> RayJobOutcome:
    """What KubeRay's RayJob status means for the sweep (KubeRay v1 semantics)."""
    deployment = rayjob_status.get("jobDeploymentStatus") or ""
    job = rayjob_status.get("jobStatus") or ""
    reason = rayjob_status.get("reason") or ""
    message = rayjob_status.get("message") or ""
    if job == "SUCCEEDED":
        return RayJobOutcome(Phase.promoting, "Promoting", "the Ray job succeeded; promoting the best trial")
    if deployment in ("Failed", "ValidationFailed") or (
        deployment == "Complete" and job in ("FAILED", "STOPPED")
    ):
        return RayJobOutcome(Phase.failed, reason or RAYJOB_FAILED, message or f"the Ray job ended {job}")
    if deployment == "Running" and job == "RUNNING":
        return _driver_runs(rayjob_status)
    if deployment in ("Suspending", "Suspended"):
        return RayJobOutcome(Phase.provisioning, QUEUED, "the RayJob is suspended, waiting for admission")
    if deployment == "Retrying" or int(rayjob_status.get("failed") or 0) > 0:
        return RayJobOutcome(
            Phase.provisioning,
            RETRYING,
            f"KubeRay retries the Ray job after {rayjob_status.get('failed') or 1} failure(s)",
        )
    return RayJobOutcome(
        Phase.provisioning, "Provisioning", f"the Ray cluster is starting ({deployment or 'New'})"
    )


DRIVER_FINISHED = RayJobOutcome(
    Phase.promoting, "Promoting", "the sweep driver recorded its verdict; promoting the best trial"
)


def outcome(rayjob_status: dict[str, Any], summary: SweepSummary | None) -> RayJobOutcome:
    """What KubeRay's RayJob status and the driver's summary (None: not written or not read) mean."""
    kuberay = rayjob_outcome(rayjob_status)
    if summary is None:
        return kuberay
    if summary.status != "running":
        return DRIVER_FINISHED
    if kuberay.phase is Phase.provisioning and rayjob_status.get("jobDeploymentStatus") == "Running":
        return _driver_runs(rayjob_status)
    return kuberay


def _driver_runs(rayjob_status: dict[str, Any]) -> RayJobOutcome:
    cluster = rayjob_status.get("rayClusterName") or "its cluster"
    return RayJobOutcome(Phase.running, "Running", f"the sweep driver runs on {cluster}")


def driver_started(rayjob_status: dict[str, Any]) -> bool:
    """Whether the sweep driver may have written its summary yet (reading it before is wasted I/O)."""
    deployment = rayjob_status.get("jobDeploymentStatus") or ""
    return bool(rayjob_status.get("jobStatus")) or deployment not in ("", "New", "Initializing", "Suspended")


def mirrored(
    prev: TuningSweepStatus, rayjob: dict[str, Any], summary: SweepSummary | None, clock: Clock
) -> TuningSweepStatus:
    """The RayJob's state mirrored into the sweep; its outcome moves the phase unless that is final.

    A sweep whose start is not recorded yet (no `rayJob.name`) is left as it is: the RayJob's first
    event can come before the start handler's status write, which sets the phase with the plan's
    trial counts, and the next reconcile mirrors from there."""
    if not recorded_start(prev):
        return prev
    rayjob_status = rayjob.get("status") or {}
    new = _touched(prev, clock)
    new.ray_job = RayJobStatus(
        name=rayjob["metadata"]["name"],
        ray_cluster=rayjob_status.get("rayClusterName") or "",
        dashboard_url=rayjob_status.get("dashboardURL") or "",
        job_deployment_status=rayjob_status.get("jobDeploymentStatus") or "",
        job_status=rayjob_status.get("jobStatus") or "",
    )
    if is_final(prev) or prev.phase is Phase.promoting:
        return new
    seen = outcome(rayjob_status, summary)
    if summary is not None:
        new = with_progress(new, summary, clock)
    if seen.phase is Phase.failed or (summary is not None and summary.status == "failed"):
        reason, message = failure(rayjob_outcome(rayjob_status), summary)
        return failed(new, reason, message, clock)
    return _in_phase(new, seen.phase, seen.reason, seen.message, clock)


def recorded_start(prev: TuningSweepStatus) -> bool:
    return prev.ray_job is not None and bool(prev.ray_job.name)


def rayjob_deleted(prev: TuningSweepStatus, rayjob_name: str, clock: Clock) -> TuningSweepStatus:
    if not recorded_start(prev) or is_final(prev) or prev.phase is Phase.promoting:
        return prev
    return failed(prev, RAYJOB_DELETED, f"RayJob {rayjob_name} was deleted before the sweep finished", clock)


def failure(kuberay: RayJobOutcome, summary: SweepSummary | None) -> tuple[str, str]:
    """Reason and message of a failed sweep: the driver's verdict when it recorded one (its reasons
    start with a CamelCase code, e.g. `NoScoredTrial: ...`), with KubeRay's failure beside it when
    the RayJob failed too; else KubeRay's."""
    if summary is None or summary.status != "failed":
        return kuberay.reason, kuberay.message
    code, detail = _driver_reason(summary.reason or "")
    if kuberay.phase is not Phase.failed:
        # A verdict (the driver exits 0 for those, so KubeRay does not retry them).
        return code or SWEEP_FAILED, detail
    if code:
        return code, f"{detail} (RayJob {kuberay.reason}: {kuberay.message})"
    return kuberay.reason, f"sweep driver: {summary.reason}; RayJob: {kuberay.message}"


def _driver_reason(reason: str) -> tuple[str, str]:
    """(code, detail) of a driver reason such as `NoScoredTrial: ...`; ("", reason) without a code."""
    code, _, detail = reason.partition(": ")
    return (code, detail) if _DRIVER_CODE.fullmatch(code) and detail else ("", reason)


def with_progress(prev: TuningSweepStatus, summary: SweepSummary, clock: Clock) -> TuningSweepStatus:
    """Trial counts and the best trial so far from the driver's sweep_summary.json.

    After promotion the best trial is the one promotion recomputed, so a Succeeded sweep keeps it.
    """
    new = _touched(prev, clock)
    # A trial `interrupted` (its driver stopped by Ctrl-C) runs again when the sweep resumes: it
    # counts as queued, in no state of its own.
    states = Counter(t.status for t in summary.trials)
    new.trials = prev.trials.model_copy(
        update={
            "total": len(summary.trials),
            "running": states["running"],
            "succeeded": states["succeeded"],
            "failed": states["failed"],
            "early_stopped": states["early_stopped"],
        }
    )
    new.trials.queued = queued(new.trials.planned, _started(new.trials))
    if prev.phase is not Phase.succeeded and summary.best_trial is not None:
        best = summary.best_trial
        new.best_trial = BestTrial(
            id=best.trial_id, params=best.params, primary_score=best.primary_score, test_score=best.test_score
        )
    if summary.budget is not None:
        new.budget = budget_status(summary.budget)
    return evidence_reachable(new, clock)


def budget_status(spend: SweepBudget) -> BudgetStatus:
    return BudgetStatus(
        unit=spend.unit,
        limit=spend.limit,
        spent=spend.spent,
        left=spend.left,
        wall_seconds_used=spend.wall_seconds_used,
        spent_of_limit=short_spend(spend.spent, spend.limit, spend.unit),
    )


def promoted(
    prev: TuningSweepStatus, best: BestTrial, promoted_to: Promoted, message: str, clock: Clock
) -> TuningSweepStatus:
    new = _touched(prev, clock)
    new.best_trial = best
    new.promoted = promoted_to
    new.completion_time = clock.now
    new = evidence_reachable(new, clock)
    new = _in_phase(new, Phase.succeeded, PROMOTED, message, clock)
    new.conditions = cond.set_condition(
        new.conditions, cond.FAILED, False, PROMOTED, "", generation=clock.generation, now=clock.now
    )
    return new


def failed(prev: TuningSweepStatus, reason: str, message: str, clock: Clock) -> TuningSweepStatus:
    """Final failure: evidence written so far stays where it is; nothing is promoted."""
    if is_final(prev):
        return prev
    new = _in_phase(_touched(prev, clock), Phase.failed, reason, message, clock)
    new.completion_time = clock.now
    new.conditions = cond.set_condition(
        new.conditions, cond.FAILED, True, reason, message, generation=clock.generation, now=clock.now
    )
    return new


def evidence_reachable(prev: TuningSweepStatus, clock: Clock) -> TuningSweepStatus:
    new = _touched(prev, clock)
    new.conditions = cond.set_condition(
        new.conditions,
        cond.EVIDENCE_REACHABLE,
        True,
        "Reachable",
        "",
        generation=clock.generation,
        now=clock.now,
    )
    return new


def evidence_unreachable(
    prev: TuningSweepStatus, error: str, clock: Clock, reason: str = BUCKET_UNREACHABLE
) -> TuningSweepStatus:
    """The bucket failed (the operator retries with backoff), or can never be shared with the Ray pods
    (`reason`); the phase stays as it was."""
    new = _touched(prev, clock)
    new.conditions = cond.set_condition(
        new.conditions,
        cond.EVIDENCE_REACHABLE,
        False,
        reason,
        error,
        generation=clock.generation,
        now=clock.now,
    )
    return new


def kuberay_missing(prev: TuningSweepStatus, message: str, clock: Clock) -> TuningSweepStatus:
    """KubeRay's CRDs are not installed: the sweep waits in Pending and starts once they are."""
    new = _touched(prev, clock)
    new.conditions = cond.set_condition(
        new.conditions,
        cond.KUBERAY_READY,
        False,
        KUBERAY_MISSING,
        message,
        generation=clock.generation,
        now=clock.now,
    )
    return _in_phase(new, Phase.pending, KUBERAY_MISSING, message, clock)


def kuberay_found(prev: TuningSweepStatus, clock: Clock) -> TuningSweepStatus:
    """KubeRay's CRDs are there; said only to a sweep that was told they were missing."""
    if cond.find(prev.conditions, cond.KUBERAY_READY) is None:
        return prev
    new = _touched(prev, clock)
    new.conditions = cond.set_condition(
        new.conditions,
        cond.KUBERAY_READY,
        True,
        "KubeRayFound",
        "",
        generation=clock.generation,
        now=clock.now,
    )
    return new


def waiting(prev: TuningSweepStatus, reason: str, message: str, clock: Clock) -> TuningSweepStatus:
    """The sweep waits in Pending for something outside it (a warm-start source to succeed)."""
    return _in_phase(_touched(prev, clock), Phase.pending, reason, message, clock)


def spec_changed(prev: TuningSweepStatus, changed: list[str], clock: Clock) -> TuningSweepStatus:
    frozen = cond.find(prev.conditions, cond.SPEC_APPLIED)
    since = f" at generation {frozen.observed_generation}" if frozen is not None else ""
    message = (
        f"the spec changed after the plan was frozen{since} ({', '.join(changed) or 'spec'}); "
        "the sweep keeps running the frozen plan"
    )
    new = _touched(prev, clock)
    new.conditions = cond.set_condition(
        new.conditions,
        cond.SPEC_APPLIED,
        False,
        SPEC_CHANGED,
        message,
        generation=clock.generation,
        now=clock.now,
    )
    return new


def _started(trials: TrialCounts) -> int:
    return trials.running + trials.succeeded + trials.failed + trials.early_stopped


def _touched(prev: TuningSweepStatus, clock: Clock) -> TuningSweepStatus:
    new = prev.model_copy(deep=True)
    new.observed_generation = clock.generation
    return new


def _in_phase(
    prev: TuningSweepStatus, phase: Phase, reason: str, message: str, clock: Clock
) -> TuningSweepStatus:
    new = prev.model_copy(deep=True)
    new.phase = phase
    new.conditions = cond.set_condition(
        new.conditions,
        cond.READY,
        phase is Phase.succeeded,
        reason,
        message,
        generation=clock.generation,
        now=clock.now,
    )
    if phase is not Phase.failed and cond.find(new.conditions, cond.FAILED) is None:
        new.conditions = cond.set_condition(
            new.conditions,
            cond.FAILED,
            False,
            "NotFailed",
            "",
            generation=clock.generation,
            now=clock.now,
        )
    return new
