"""A Ray trial as the sweep's evidence sees it: one TrialRecord of sweep_summary.json.

A finished trial is settled once: its primary score is recomputed from its evaluation rows, and
its run_manifest.json is brought in line with what Ray saw when the trial process could not
write it itself: a trial that ASHA stopped (its process is ended mid-training) becomes
`early_stopped`, one whose process died (timeout, OOM kill) becomes `failed` with Ray's error.
A trial still unfinished when the sweep was interrupted (Ctrl-C) becomes `interrupted`, even where
its process wrote `early_stopped` (Tune stops it as it stops a cut trial): it runs again when the
sweep resumes (from its newest checkpoint), and no scheduler cut it.
The record also says where the trial ran (its manifest's hostname and Ray node) and its rung
scores (from its metrics.jsonl once settled; from the results Tune saw while it runs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ray.tune.experiment import Trial
from tunesweep_evidence import bucket, layout, trial_checkpoints
from tunesweep_evidence.documents import MetricsLine, RungScore, RunManifest, TrialRecord
from tunesweep_evidence.sweep_evidence import EvidenceReader, load_trial

_RAY_TO_RECORD = {
    Trial.PENDING: "pending",
    Trial.PAUSED: "pending",
    Trial.RUNNING: "running",
}
_ERROR_CHARS = 2000
End = Literal["failed", "early_stopped", "interrupted"]
"""How Ray saw a trial end: it errored; it was stopped (cut, or the sweep stopped); or it was
unfinished when the sweep was interrupted."""


def live_record(trial: Trial, started_at: str | None, rung_scores: list[RungScore]) -> TrialRecord:
    """A trial that has not finished: pending, or running once it has started (Ray still shows
    PENDING while the trial's process comes up), no score yet."""
    return TrialRecord(
        trial_id=trial.trial_id,
        status="running" if started_at else _RAY_TO_RECORD.get(trial.status, "running"),
        params=trial_params(trial),
        iterations=iterations(trial),
        started_at=started_at,
        rung_scores=rung_scores,
    )


def settled_record(root: str, trial: Trial, sweep_uid: str, *, end: End) -> TrialRecord:
    """A trial that ended as Ray saw it `end`, its manifest settled, its score recomputed."""
    rel_dir = f"trials/{trial.trial_id}"
    manifest_uri = layout.join(root, rel_dir, layout.RUN_MANIFEST)
    ray_error = ray_error_text(trial) if end == "failed" else None
    has_manifest = settle_manifest(manifest_uri, end=end, error=ray_error)
    reader = EvidenceReader(root)
    evidence = load_trial(reader, rel_dir, trial.trial_id, sweep_uid) if has_manifest else None
    if evidence is None:
        # No usable evidence: the trial never started (the sweep stopped first), or died before
        # writing any. An interrupted one that Ray had not started yet is still to run.
        not_started = end == "interrupted" and trial.status != Trial.RUNNING
        return TrialRecord(
            trial_id=trial.trial_id,
            status="pending" if not_started else end,
            params=trial_params(trial),
            error=ray_error or ("; ".join(reader.problems) or None),
            iterations=iterations(trial),
        )
    manifest = evidence.manifest
    problems = "; ".join(reader.problems) or None
    return TrialRecord(
        trial_id=trial.trial_id,
        status=manifest.status,  # settled: never "running"
        params=manifest.params,
        primary_score=evidence.primary_score,
        error=manifest.error or problems,
        iterations=iterations(trial),
        started_at=manifest.started_at,
        finished_at=manifest.finished_at,
        hostname=manifest.host.hostname,
        ray_node_id=manifest.host.ray_node_id,
        rung_scores=recorded_rung_scores(layout.join(root, rel_dir, layout.METRICS)),
        restarts=sum(attempt.after == "lost" for attempt in manifest.attempts),
    )


def recorded_rung_scores(metrics_uri: str) -> list[RungScore]:
    if not bucket.exists(metrics_uri):
        return []
    lines = bucket.read_jsonl(metrics_uri, MetricsLine)
    return [RungScore(step=line.step, score=line.rung_score) for line in lines if line.rung_score is not None]


def settle_manifest(uri: str, *, end: End, error: str | None) -> bool:
    """A manifest still saying `running` after the trial ended gets its real end (an interrupted
    trial's also replaces the `early_stopped` its stopped process wrote); False when the trial
    wrote no manifest at all."""
    if not bucket.exists(uri):
        return False
    manifest = bucket.read_document(uri, RunManifest)
    unsettled = ("running", "early_stopped") if end == "interrupted" else ("running",)
    if manifest.status not in unsettled:
        return True
    # The checkpoints as found: the process may have ended between a prune and its manifest write.
    complete = trial_checkpoints.complete(layout.parent(uri))
    update: dict[str, Any] = {
        "status": end,
        "finished_at": manifest.finished_at or now_iso(),
        "checkpoints": trial_checkpoints.refs(complete),
    }
    if end == "failed":
        update["error"] = error or "the trial process ended without a result"
    bucket.write_document(uri, manifest.model_copy(update=update))
    return True


def ray_error_text(trial: Trial) -> str | None:
    """The last line of Ray's error file for the trial (the exception), if there is one."""
    path = trial.error_file
    if not path or not Path(path).exists():
        return None
    lines = [line.strip() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    meaningful = [line for line in lines if not line.startswith("Failure #")]
    return meaningful[-1][:_ERROR_CHARS] if meaningful else None


def trial_params(trial: Trial) -> dict[str, Any]:
    return plain(dict(trial.config))


def iterations(trial: Trial) -> int:
    return int(trial.run_metadata.last_result.get("training_iteration") or 0)


def plain(params: dict[str, Any]) -> dict[str, Any]:
    """Sampled values as plain JSON types (Ray may hand out numpy scalars)."""
    return {key: value.item() if hasattr(value, "item") else value for key, value in params.items()}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
