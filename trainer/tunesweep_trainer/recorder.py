"""A trial's evidence files under its output folder: run_manifest.json, metrics.jsonl, eval_summary.json.

Every write replaces the whole object atomically (object stores cannot append), so metrics.jsonl is
rewritten from memory at each report; it stays small (one line per report).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import BaseModelUse, CompileCacheUse, EvalSummary, MetricsLine, RunManifest

EndState = Literal["succeeded", "failed", "early_stopped"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TrialRecorder:
    def __init__(self, out_uri: str, manifest: RunManifest) -> None:
        self.manifest_uri = layout.join(out_uri, layout.RUN_MANIFEST)
        self.metrics_uri = layout.join(out_uri, layout.METRICS)
        self.eval_summary_uri = layout.join(out_uri, layout.EVAL_SUMMARY)
        self._manifest = manifest
        self._lines: list[MetricsLine] = []
        bucket.write_document(self.manifest_uri, manifest)

    def metrics(self, line: MetricsLine) -> None:
        self._lines.append(line)
        bucket.write_jsonl(self.metrics_uri, self._lines)

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
