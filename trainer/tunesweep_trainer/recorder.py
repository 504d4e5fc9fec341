"""A trial's evidence files under its output folder: run_manifest.json, metrics.jsonl, eval_summary.json.

Every write replaces the whole object atomically (object stores cannot append), so metrics.jsonl is
rewritten from memory at each report; it stays small (one line per report).

A trial started again in the same folder (a lost process or node, a resumed sweep) adds its start
to the earlier manifest's `attempts`, and keeps the earlier metrics lines up to the step it resumed
from (`resumed_step`; 0: none): the steps after it are trained again and reported anew.
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
    TrialAttempt,
)
from tunesweep_evidence.trial_checkpoints import refs

EndState = Literal["succeeded", "failed", "early_stopped"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TrialRecorder:
    def __init__(self, out_uri: str, manifest: RunManifest, resumed_step: int = 0) -> None:
        self.manifest_uri = layout.join(out_uri, layout.RUN_MANIFEST)
        self.metrics_uri = layout.join(out_uri, layout.METRICS)
        self.eval_summary_uri = layout.join(out_uri, layout.EVAL_SUMMARY)
        earlier = self._earlier(manifest)
        attempt = TrialAttempt(
            started_at=manifest.started_at, resumed_from_step=resumed_step, host=manifest.host.hostname
        )
        self._manifest = manifest.model_copy(
            update={
                "attempts": [*(earlier.attempts if earlier else []), attempt],
                "started_at": earlier.started_at if earlier else manifest.started_at,
                "checkpoints": [c for c in earlier.checkpoints if c.step <= resumed_step] if earlier else [],
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

    def _earlier(self, manifest: RunManifest) -> RunManifest | None:
        """The manifest of this trial's earlier start that did not end, if any."""
        if manifest.trial_id is None or not bucket.exists(self.manifest_uri):
            return None
        earlier = bucket.read_document(self.manifest_uri, RunManifest)
        unended = earlier.status in ("running", "interrupted", "early_stopped")
        return earlier if unended and earlier.trial_id == manifest.trial_id else None

    def metrics(self, line: MetricsLine) -> None:
        self._lines.append(line)
        bucket.write_jsonl(self.metrics_uri, self._lines)

    def checkpoints(self, kept: list[CheckpointRecord]) -> None:
        self._manifest = self._manifest.model_copy(update={"checkpoints": refs(kept)})
        bucket.write_document(self.manifest_uri, self._manifest)

    def eval_summary(self, summary: EvalSummary) -> None:
        bucket.write_document(self.eval_summary_uri, summary)

    def finish(
        self,
        status: EndState,
        error: str | None = None,
        cache: CompileCacheUse | None = None,
        base_model: BaseModelUse | None = None,
    ) -> RunManifest:
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
