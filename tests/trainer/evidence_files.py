"""Test support: read a trial's evidence back through the document models and their JSON Schemas."""

from __future__ import annotations

from pathlib import Path

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import EvalSummary, MetricsLine, RunManifest


def read(out: Path) -> tuple[RunManifest, list[MetricsLine], EvalSummary | None]:
    manifest = bucket.read_document(str(out / layout.RUN_MANIFEST), RunManifest)
    metrics_path = out / layout.METRICS
    lines = bucket.read_jsonl(str(metrics_path), MetricsLine) if metrics_path.exists() else []
    summary_path = out / layout.EVAL_SUMMARY
    summary = bucket.read_document(str(summary_path), EvalSummary) if summary_path.exists() else None
    return manifest, lines, summary
