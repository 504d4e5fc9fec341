"""A trial's evidence files under its output folder: run_manifest.json, metrics.jsonl, eval_summary.json.

Every write replaces the whole object atomically (object stores cannot append), so metrics.jsonl is
rewritten from memory at each report; it stays small (one line per report).

A trial started again in the same folder (a lost process or node, a resumed sweep, PBT) adds its
start to the earlier manifest's `attempts`, and keeps the earlier metrics lines up to the step it
resumed from (`resumed_step`; 0: none): the steps after it are trained again and reported anew.
A PBT exploit also adds a segment (`segments`). Each write first checks that the folder is still
this start's (its run_manifest.json names this run): an older start still running on a Pod being
deleted stops instead of writing over a newer one (`TrialSuperseded`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import (
    BaseModelUse,
    CheckpointRecord,
    CompileCacheUse,
    EvalSummary,
    MetricsLine,
    RunManifest,
    Segment,
    TrialAttempt,
)
from tunesweep_evidence.trial_checkpoints import refs

from .errors import TrialSuperseded

EndState = Literal["succeeded", "failed", "early_stopped"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_ENDED_AS: dict[str, Literal["lost", "stopped", "interrupted"]] = {
    "running": "lost",  # nothing marked its end: the process went with its node, Pod or driver
    "early_stopped": "stopped",
    "interrupted": "interrupted",
}


def unfinished(out_uri: str, trial_id: str | None) -> RunManifest | None:
    """The manifest an earlier start of trial `trial_id` left in `out_uri` without ending it (a lost
    process, a stopped sweep, PBT pausing it), if any."""
    uri = layout.join(out_uri, layout.RUN_MANIFEST)
    if trial_id is None or not bucket.exists(uri):
        return None
    earlier = bucket.read_document(uri, RunManifest)
    unended = earlier.status in _ENDED_AS
    return earlier if unended and earlier.trial_id == trial_id else None


class TrialRecorder:
    def __init__(
        self,
        out_uri: str,
        manifest: RunManifest,
        earlier: RunManifest | None = None,
        resumed_step: int = 0,
        new_segment: Segment | None = None,
    ) -> None:
        """`earlier`: the manifest of this trial's unfinished earlier start, which this one goes on
        from `resumed_step`; `new_segment`: PBT's, starting here from another trial's checkpoint."""
        self.manifest_uri = layout.join(out_uri, layout.RUN_MANIFEST)
        self.metrics_uri = layout.join(out_uri, layout.METRICS)
        self.eval_summary_uri = layout.join(out_uri, layout.EVAL_SUMMARY)
        attempt = TrialAttempt(
            started_at=manifest.started_at,
            resumed_from_step=resumed_step,
            host=manifest.host.hostname,
            after=_ENDED_AS[earlier.status] if earlier else None,
        )
        segments = earlier.segments if earlier else []
        if new_segment is not None:
            if earlier and not segments:  # its first segment: the params it was sampled with
                segments = [Segment(from_step=0, params=earlier.params, started_at=earlier.started_at)]
            segments = [*segments, new_segment]
        self._manifest = manifest.model_copy(
            update={
                "attempts": [*(earlier.attempts if earlier else []), attempt],
                "started_at": earlier.started_at if earlier else manifest.started_at,
                "checkpoints": [c for c in earlier.checkpoints if c.step <= resumed_step] if earlier else [],
                "segments": segments,
            }
        )
        self._lines: list[MetricsLine] = (
            [line for line in bucket.read_jsonl(self.metrics_uri, MetricsLine) if line.step <= resumed_step]
            if earlier and resumed_step
            else []
        )
        bucket.write_document(self.manifest_uri, self._manifest)
        if earlier:
            bucket.write_jsonl(self.metrics_uri, self._lines)

    def owned(self) -> RunManifest:
        """The manifest in the bucket; raise TrialSuperseded when a newer start of this trial has
        taken its folder over."""
        found = bucket.read_document(self.manifest_uri, RunManifest)
        if found.run_id != self._manifest.run_id:
            ours = self._manifest.run_id
            raise TrialSuperseded(f"run {found.run_id} of this trial started after this one ({ours})")
        return found

    def metrics(self, line: MetricsLine) -> None:
        self.owned()
        self._lines.append(line)
        bucket.write_jsonl(self.metrics_uri, self._lines)

    def checkpoints(self, kept: list[CheckpointRecord]) -> None:
        self._manifest = self._manifest.model_copy(update={"checkpoints": refs(kept)})
        bucket.write_document(self.manifest_uri, self._manifest)

    def eval_summary(self, summary: EvalSummary) -> None:
        self.owned()
        bucket.write_document(self.eval_summary_uri, summary)

    def finish(
        self,
        status: EndState,
        error: str | None = None,
        cache: CompileCacheUse | None = None,
        base_model: BaseModelUse | None = None,
    ) -> RunManifest:
        """Mark the trial's end; nothing is written when a newer start owns the folder, or when the
        driver has already settled this start (Ctrl-C: Tune stops the trial processes without
        waiting for them, so a stopped one may end after the driver marked it interrupted)."""
        try:
            found = self.owned()
        except TrialSuperseded:
            return self._manifest
        if found.status != "running":
            return found
        self._manifest = self._manifest.model_copy(
            update={
                "status": status,
                "error": error,
                "finished_at": now(),
                "compile_cache": cache,
                "base_model": base_model,
            }
        )
        bucket.write_document(self.manifest_uri, self._manifest)
        return self._manifest
