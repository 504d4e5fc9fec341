"""Status computation: phases from KubeRay's RayJob status, progress, conditions, events (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from tunesweep_evidence import placement
from tunesweep_evidence.documents import SweepSummary
from tunesweep_evidence.spec import BestTrial, Phase, Promoted, TuningSweepSpec, TuningSweepStatus
from tunesweep_operator import conditions as cond
from tunesweep_operator import status
from tunesweep_operator.events import Event, transition_events
from tunesweep_operator.status import Clock

PLACED = placement.place(
    TuningSweepSpec.model_validate(
        {
            "trainer": {"baseConfig": {"training": {"max_steps": 100}}},
            "searchSpace": {"training.learning_rate": {"loguniform": [1e-4, 1e-2]}},
            "trials": {"count": 6},
        }
    )
)
"""6 trials, 2 at once."""
T0, T1, T2 = (
    Clock(1, "2026-01-01T00:00:00Z"),
    Clock(1, "2026-01-01T00:01:00Z"),
    Clock(2, "2026-01-01T00:02:00Z"),
)


def rayjob(**st: Any) -> dict[str, Any]:
    return {"metadata": {"name": "lr-sweep-abc123"}, "status": st}


def summary(
    *states: str, best: float | None = None, outcome: str = "running", reason: str = ""
) -> SweepSummary:
    trials = [
        {"trial_id": f"t{i}", "status": s, "params": {"training.learning_rate": 0.001 * (i + 1)}}
        for i, s in enumerate(states)
    ]
    doc: dict[str, Any] = {
        "sweep": {"name": "lr-sweep", "namespace": "team-a", "uid": "uid-1"},
        "mode": "production",
        "objective": {"metric": "primary_score", "mode": "max"},
        "status": outcome,
        "reason": reason,
        "trials": trials,
        "updated_at": "2026-01-01T00:00:00Z",
    }
    if best is not None:
        doc["best_trial"] = {
            "trial_id": "t0",
            "params": trials[0]["params"],
            "primary_score": best,
            "test_score": best / 2,
        }
    return SweepSummary.model_validate(doc)


APP_FAILED = rayjob(jobDeploymentStatus="Failed", jobStatus="FAILED", reason="AppFailed", message="exit 1")


def running_sweep() -> TuningSweepStatus:
    new = status.started(
        TuningSweepStatus(), evidence_uri="file:///e/ns/s/uid-1", rayjob_name="s-1", placed=PLACED, clock=T0
    )
    return status.mirrored(new, rayjob(jobDeploymentStatus="Running", jobStatus="RUNNING"), None, T0)


def condition(st: TuningSweepStatus, type_: str) -> tuple[str, str]:
    found = cond.find(st.conditions, type_)
    assert found is not None, f"no {type_} condition in {st.conditions}"
    return found.status, found.reason


@pytest.mark.parametrize(
    ("rayjob_status", "phase", "reason"),
    [
        ({}, Phase.provisioning, "Provisioning"),
        ({"jobDeploymentStatus": "Initializing"}, Phase.provisioning, "Provisioning"),
        ({"jobDeploymentStatus": "Running", "jobStatus": "PENDING"}, Phase.provisioning, "Provisioning"),
        ({"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}, Phase.running, "Running"),
        ({"jobDeploymentStatus": "Suspended"}, Phase.provisioning, "Queued"),
        (
            {"jobDeploymentStatus": "Retrying", "jobStatus": "FAILED", "failed": 1},
            Phase.provisioning,
            "Retrying",
        ),
        ({"jobDeploymentStatus": "Initializing", "failed": 2}, Phase.provisioning, "Retrying"),
        ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, Phase.promoting, "Promoting"),
        (
            {
                "jobDeploymentStatus": "Failed",
                "jobStatus": "FAILED",
                "reason": "AppFailed",
                "message": "boom",
            },
            Phase.failed,
            "AppFailed",
        ),
        (
            {"jobDeploymentStatus": "Failed", "jobStatus": "RUNNING", "reason": "DeadlineExceeded"},
            Phase.failed,
            "DeadlineExceeded",
        ),
        ({"jobDeploymentStatus": "Failed", "reason": "SubmissionFailed"}, Phase.failed, "SubmissionFailed"),
        ({"jobDeploymentStatus": "Complete", "jobStatus": "STOPPED"}, Phase.failed, "RayJobFailed"),
        (
            {"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed"},
            Phase.failed,
            "ValidationFailed",
        ),
    ],
)
def test_rayjob_outcome(rayjob_status: dict[str, Any], phase: Phase, reason: str) -> None:
    outcome = status.rayjob_outcome(rayjob_status)
    assert (outcome.phase, outcome.reason) == (phase, reason)


def test_started_from_pending() -> None:
    new = status.started(
        TuningSweepStatus(), evidence_uri="s3://b/ns/s/u", rayjob_name="s-1", placed=PLACED, clock=T0
    )
    assert new.phase is Phase.provisioning
    assert new.evidence_uri == "s3://b/ns/s/u" and new.ray_job is not None and new.ray_job.name == "s-1"
    assert new.start_time == T0.now and new.observed_generation == 1
    assert condition(new, cond.READY) == ("False", "Provisioning")
    assert condition(new, cond.FAILED) == ("False", "NotFailed")
    assert condition(new, cond.EVIDENCE_REACHABLE) == ("True", "Reachable")
    assert condition(new, cond.SPEC_APPLIED) == ("True", "PlanFrozen")


@pytest.mark.parametrize(
    "rayjob_status",
    [{}, {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}, APP_FAILED["status"]],
)
def test_a_rayjob_seen_before_its_start_is_recorded_changes_nothing(rayjob_status: dict[str, Any]) -> None:
    # The RayJob's first event can beat the start handler's status write: the phase and the plan's
    # trial counts come together from that write, never a phase without the counts.
    pending = TuningSweepStatus()
    assert status.mirrored(pending, rayjob(**rayjob_status), summary("running"), T0) == pending
    assert status.rayjob_deleted(pending, "s-1", T0) == pending
    new = status.started(pending, evidence_uri="s3://b/ns/s/u", rayjob_name="s-1", placed=PLACED, clock=T0)
    assert new.phase is Phase.provisioning
    assert (new.trials.planned, new.trials.concurrent, new.trials.queued) == (6, 2, 6)
    assert status.mirrored(new, rayjob(**rayjob_status), None, T1).phase is not Phase.pending


def test_started_again_on_resume_changes_no_phase() -> None:
    current = running_sweep()
    again = status.started(
        current, evidence_uri=current.evidence_uri, rayjob_name="s-1", placed=PLACED, clock=T1
    )
    assert again.phase is Phase.running and again.start_time == T0.now


def test_mirror_running_then_success() -> None:
    current = running_sweep()
    assert current.phase is Phase.running
    assert current.ray_job is not None and current.ray_job.job_status == "RUNNING"
    done = status.mirrored(
        current,
        rayjob(
            jobDeploymentStatus="Complete",
            jobStatus="SUCCEEDED",
            rayClusterName="s-1-xyz",
            dashboardURL="s-1-xyz-head-svc.ns.svc.cluster.local:8265",
        ),
        None,
        T1,
    )
    assert done.phase is Phase.promoting
    assert done.ray_job is not None
    assert (done.ray_job.ray_cluster, done.ray_job.dashboard_url, done.ray_job.job_deployment_status) == (
        "s-1-xyz",
        "s-1-xyz-head-svc.ns.svc.cluster.local:8265",
        "Complete",
    )
    assert condition(done, cond.READY) == ("False", "Promoting")


def test_failure_takes_the_drivers_reason_code() -> None:
    failed_job = APP_FAILED
    driver = summary("failed", "failed", outcome="failed", reason="TooManyFailedTrials: 2 of 2 trials failed")
    new = status.mirrored(running_sweep(), failed_job, driver, T1)
    assert new.phase is Phase.failed and new.completion_time == T1.now
    assert condition(new, cond.FAILED) == ("True", "TooManyFailedTrials")
    assert condition(new, cond.READY) == ("False", "TooManyFailedTrials")
    failed_condition = cond.find(new.conditions, cond.FAILED)
    assert failed_condition is not None
    assert failed_condition.message == "2 of 2 trials failed (RayJob AppFailed: exit 1)"
    assert new.trials.failed == 2


@pytest.mark.parametrize(
    ("driver", "reason", "message"),
    [
        (None, "AppFailed", "exit 1"),
        (summary("running"), "AppFailed", "exit 1"),
        (summary(outcome="failed", reason="it broke"), "AppFailed", "sweep driver: it broke; RayJob: exit 1"),
    ],
)
def test_failure_without_a_driver_code_keeps_kuberays_reason(
    driver: SweepSummary | None, reason: str, message: str
) -> None:
    failed_job = APP_FAILED
    new = status.mirrored(running_sweep(), failed_job, driver, T1)
    failed_condition = cond.find(new.conditions, cond.FAILED)
    assert failed_condition is not None
    assert (failed_condition.reason, failed_condition.message) == (reason, message)


def test_final_phases_are_sticky() -> None:
    failed = status.failed(running_sweep(), "AppFailed", "boom", T1)
    later = status.mirrored(failed, rayjob(jobDeploymentStatus="Complete", jobStatus="SUCCEEDED"), None, T2)
    assert later.phase is Phase.failed
    assert status.failed(failed, "Other", "x", T2) == failed
    assert status.rayjob_deleted(failed, "s-1", T2) == failed


def test_promoting_is_not_undone_by_late_rayjob_events() -> None:
    promoting = status.mirrored(
        running_sweep(), rayjob(jobDeploymentStatus="Complete", jobStatus="SUCCEEDED"), None, T1
    )
    late = status.mirrored(promoting, rayjob(jobDeploymentStatus="Running", jobStatus="RUNNING"), None, T2)
    assert late.phase is Phase.promoting


def test_rayjob_deleted_mid_run_fails_the_sweep() -> None:
    new = status.rayjob_deleted(running_sweep(), "s-1", T1)
    assert new.phase is Phase.failed and condition(new, cond.FAILED) == ("True", "RayJobDeleted")


def test_progress_counts_and_best_so_far() -> None:
    new = status.with_progress(
        running_sweep(), summary("succeeded", "running", "failed", "early_stopped", "pending", best=0.75), T1
    )
    assert new.trials.model_dump() == {
        "planned": 6,
        "concurrent": 2,
        "queued": 2,  # 6 planned, 4 started (a pending trial waits for a trial Pod)
        "total": 5,
        "running": 1,
        "succeeded": 1,
        "failed": 1,
        "early_stopped": 1,
    }
    assert new.best_trial is not None
    assert (new.best_trial.id, new.best_trial.primary_score, new.best_trial.test_score) == ("t0", 0.75, 0.375)
    assert new.phase is Phase.running


def test_the_budget_s_spend_is_in_the_status_and_its_column() -> None:
    doc = summary("succeeded", "running").model_dump()
    doc["budget"] = {
        "unit": "GPU-hours",
        "rate": 2.0,
        "limit": 4.0,
        "spent": 1.234,
        "left": 2.766,
        "wall_seconds_used": 600.0,
        "started_at": "2026-01-01T00:00:00+00:00",
    }
    new = status.with_progress(running_sweep(), SweepSummary.model_validate(doc), T1)
    assert new.budget is not None
    assert new.budget.model_dump(by_alias=True) == {
        "unit": "GPU-hours",
        "limit": 4.0,
        "spent": 1.234,
        "left": 2.766,
        "wallSecondsUsed": 600.0,
        "spentOfLimit": "1.23/4 GPU-h",
    }
    assert status.with_progress(running_sweep(), summary("running"), T1).budget is None


def test_an_interrupted_trial_counts_as_queued() -> None:
    """It runs again when the sweep resumes, so it is a trial still to run."""
    new = status.with_progress(running_sweep(), summary("succeeded", "interrupted", "running"), T1)
    counts = new.trials
    assert (counts.total, counts.succeeded, counts.running, counts.early_stopped) == (3, 1, 1, 0)
    assert counts.queued == 4  # 6 planned, 2 started


def test_a_verdict_of_the_driver_fails_the_sweep_at_once() -> None:
    done = rayjob(jobDeploymentStatus="Complete", jobStatus="SUCCEEDED")
    verdict = summary(
        "failed", "failed", outcome="failed", reason="TooManyFailedTrials: 2 of 2 trials failed"
    )
    new = status.mirrored(running_sweep(), done, verdict, T1)
    assert new.phase is Phase.failed
    assert condition(new, cond.FAILED) == ("True", "TooManyFailedTrials")
    assert cond.find(new.conditions, cond.FAILED).message == "2 of 2 trials failed"  # type: ignore[union-attr]
    # a driver that finished well moves the sweep on to promotion
    finished = summary("succeeded", best=0.5, outcome="succeeded")
    assert status.mirrored(running_sweep(), done, finished, T1).phase is Phase.promoting


def test_promoted_best_trial_is_not_replaced_by_the_drivers_summary() -> None:
    best = BestTrial(id="t3", params={"training.learning_rate": 0.003}, primary_score=0.9)
    done = status.promoted(
        running_sweep(),
        best,
        Promoted(config_map="s-best", evidence_uri="file:///e/promoted"),
        "promoted t3",
        T1,
    )
    assert done.phase is Phase.succeeded and done.completion_time == T1.now
    assert condition(done, cond.READY) == ("True", "Promoted")
    assert condition(done, cond.FAILED) == ("False", "Promoted")
    later = status.with_progress(done, summary("succeeded", best=0.5), T2)
    assert later.best_trial == best


def test_last_transition_time_moves_only_when_status_flips() -> None:
    first = status.started(TuningSweepStatus(), evidence_uri="e", rayjob_name="s-1", placed=PLACED, clock=T0)
    # Provisioning -> Running keeps Ready False: a new reason, the same transition time
    running = status.mirrored(first, rayjob(jobDeploymentStatus="Running", jobStatus="RUNNING"), None, T1)
    ready = cond.find(running.conditions, cond.READY)
    assert ready is not None
    assert (ready.status, ready.reason, ready.last_transition_time) == ("False", "Running", T0.now)
    down = status.evidence_unreachable(first, "connection refused", T1)
    down_again = status.evidence_unreachable(down, "still refused", T2)
    reachable = cond.find(down_again.conditions, cond.EVIDENCE_REACHABLE)
    assert reachable is not None
    assert (reachable.status, reachable.reason, reachable.message) == (
        "False",
        "BucketUnreachable",
        "still refused",
    )
    assert reachable.last_transition_time == T1.now and reachable.observed_generation == 2
    back = status.evidence_reachable(down_again, T2)
    back_condition = cond.find(back.conditions, cond.EVIDENCE_REACHABLE)
    assert back_condition is not None and back_condition.status == "True"
    assert back_condition.last_transition_time == T2.now


def test_condition_messages_keep_start_and_end() -> None:
    message = "Job entrypoint command failed with exit code 1" + "x" * 5000 + "ValueError: the real cause"
    short = cond.short(message)
    assert len(short) <= cond.MAX_MESSAGE
    assert short.startswith("Job entrypoint command failed") and short.endswith("ValueError: the real cause")


def test_spec_changed_after_start() -> None:
    changed = status.spec_changed(running_sweep(), ["spec.trials.count"], T2)
    applied = cond.find(changed.conditions, cond.SPEC_APPLIED)
    assert applied is not None
    assert (applied.status, applied.reason) == ("False", "SpecChangedAfterStart")
    assert "spec.trials.count" in applied.message and "generation 1" in applied.message
    assert changed.observed_generation == 2 and changed.phase is Phase.running


def test_status_round_trips_through_the_wire_form() -> None:
    current = running_sweep()
    wire = status.dump_status(current)
    assert wire["phase"] == "Running" and wire["evidenceURI"] == "file:///e/ns/s/uid-1"
    assert {c["type"] for c in wire["conditions"]} == {"Ready", "Failed", "EvidenceReachable", "SpecApplied"}
    assert all("lastTransitionTime" in c and "observedGeneration" in c for c in wire["conditions"])
    assert status.parse_status(wire) == current


def test_events_follow_transitions_not_retries() -> None:
    pending = TuningSweepStatus()
    started = status.started(pending, evidence_uri="e", rayjob_name="s-1", placed=PLACED, clock=T0)
    assert transition_events(pending, started) == [
        Event("Normal", "Provisioning", "RayJob s-1 created; waiting for its Ray cluster")
    ]
    down = status.evidence_unreachable(started, "refused", T1)
    assert transition_events(started, down) == [Event("Warning", "BucketUnreachable", "refused")]
    assert transition_events(down, status.evidence_unreachable(down, "refused", T2)) == []
    up = status.evidence_reachable(down, T2)
    assert transition_events(down, up) == [
        Event("Normal", "BucketReachable", "the evidence location is reachable again")
    ]
    failed = status.failed(up, "AppFailed", "boom", T2)
    assert transition_events(up, failed) == [Event("Warning", "AppFailed", "boom")]


UNSEEN_END = rayjob(jobDeploymentStatus="Running", rayClusterName="s-1-xyz")
"""What KubeRay v1.5 shows under Ray token auth: it cannot read the job API, so no jobStatus ever."""


def test_a_summary_means_the_driver_runs_even_when_kuberay_cannot_say() -> None:
    provisioning = status.mirrored(running_sweep(), UNSEEN_END, None, T1)
    assert provisioning.phase is Phase.provisioning  # no word from the driver yet
    running = status.mirrored(running_sweep(), UNSEEN_END, summary("running"), T1)
    assert running.phase is Phase.running
    assert condition(running, cond.READY) == ("False", "Running")


@pytest.mark.parametrize(
    "kuberay",
    [
        UNSEEN_END,
        # 30 s after its submitter exits, KubeRay marks a job it cannot read Failed
        rayjob(
            jobDeploymentStatus="Failed",
            jobStatus="FAILED",
            reason="JobDeploymentStatusTransitionGracePeriodExceeded",
            message="The RayJob submitter finished but the ray job did not reach terminal state",
        ),
    ],
)
def test_the_drivers_final_summary_is_the_verdict_whatever_kuberay_says(kuberay: dict[str, Any]) -> None:
    done = status.mirrored(running_sweep(), kuberay, summary("succeeded", outcome="succeeded", best=0.9), T1)
    assert done.phase is Phase.promoting and done.trials.succeeded == 1
    verdict = summary("failed", outcome="failed", reason="NoScoredTrial: none of 1 trial has a score")
    refused = status.mirrored(running_sweep(), UNSEEN_END, verdict, T1)
    assert refused.phase is Phase.failed
    assert condition(refused, cond.FAILED) == ("True", "NoScoredTrial")


def test_a_sweep_waits_for_kuberay_and_hears_when_it_is_there() -> None:
    pending = TuningSweepStatus()
    waiting = status.kuberay_missing(pending, "install KubeRay", T0)
    assert waiting.phase is Phase.pending
    missing = cond.find(waiting.conditions, cond.KUBERAY_READY)
    assert missing is not None and (missing.status, missing.reason) == ("False", "KubeRayMissing")
    assert missing.observed_generation == T0.generation
    ready = cond.find(waiting.conditions, cond.READY)
    assert ready is not None and (ready.status, ready.reason) == ("False", "KubeRayMissing")
    assert transition_events(pending, waiting) == [Event("Warning", "KubeRayMissing", "install KubeRay")]
    assert transition_events(waiting, status.kuberay_missing(waiting, "install KubeRay", T1)) == []
    found = status.kuberay_found(waiting, T2)
    assert cond.find(found.conditions, cond.KUBERAY_READY).status == "True"  # type: ignore[union-attr]
    assert transition_events(waiting, found) == [
        Event("Normal", "KubeRayFound", "KubeRay's CRDs are installed")
    ]
    # a sweep never told KubeRay was missing gets no condition about it
    assert status.kuberay_found(pending, T2) == pending


def test_unshared_file_evidence_fails_the_sweep_with_one_warning() -> None:
    pending = TuningSweepStatus()
    reason = status.FILE_EVIDENCE_NOT_SHARED
    refused = status.failed(
        status.evidence_unreachable(pending, "no volume", T0, reason), reason, "no volume", T0
    )
    reachable = cond.find(refused.conditions, cond.EVIDENCE_REACHABLE)
    assert reachable is not None and (reachable.status, reachable.reason) == ("False", reason)
    assert refused.phase is Phase.failed
    # the condition's Warning and the failure's would say the same: one Event
    assert transition_events(pending, refused) == [Event("Warning", reason, "no volume")]
