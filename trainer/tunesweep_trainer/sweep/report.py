"""report.html beside the evidence: one self-contained page that shows the sweep's decisions (the
winner's selection and test scores, rung scores and the decisions ASHA recorded, best score against
compute, the compile cache's hit rate, params against score, the trials). It reads the evidence
through tunesweep_evidence only; what it shows is computed by `report_data` and drawn by `report_html`.
"""

from __future__ import annotations

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import (
    EvalSummary,
    MetricsLine,
    Plan,
    RungDecisions,
    RunManifest,
    SweepSummary,
    TrialRecord,
)
from tunesweep_evidence.quantity import cpu_cores
from tunesweep_evidence.search_plan import planned_search
from tunesweep_evidence.spec import Accelerator, TuningSweepSpec

from .plan import spec_of
from .report_data import ReportInput, TrialEvidence
from .report_html import render


def write_report(plan: Plan, document: SweepSummary) -> str:
    """Write report.html below the sweep's evidence folder; returns its URI."""
    root = plan.evidence_uri
    spec = spec_of(plan)
    best = document.best_trial
    winner = _eval_summary(root, best.trial_id) if best else None
    view = ReportInput(
        summary=document,
        trials=[_trial(root, record, spec) for record in document.trials],
        rung_steps=planned_search(plan, spec).rung_steps,
        reduction_factor=spec.early_stopping.reduction_factor if spec.early_stopping.name == "asha" else None,
        algorithm=spec.algorithm.name,
        rung_decisions=_rung_decisions(root),
        loguniform={path: dim.loguniform is not None for path, dim in spec.search_space.items()},
        compute_unit="CPU" if _cpu_sweep(spec) else "accelerator",
        winner_test_score=winner.test_score if winner else None,
    )
    uri = layout.join(root, layout.REPORT)
    bucket.write_text(uri, render(view))
    return uri


def _rung_decisions(root: str) -> RungDecisions | None:
    # Absent without ASHA, when no trial scored a rung before its last step, or in an older sweep.
    uri = layout.join(root, layout.RUNG_DECISIONS)
    return bucket.read_document(uri, RungDecisions) if bucket.exists(uri) else None


def _cpu_sweep(spec: TuningSweepSpec) -> bool:
    return spec.resources.per_trial.accelerator == Accelerator.none


def _trial(root: str, record: TrialRecord, spec: TuningSweepSpec) -> TrialEvidence:
    folder = layout.trial_dir(root, record.trial_id)
    metrics_uri = layout.join(folder, layout.METRICS)
    metrics = bucket.read_jsonl(metrics_uri, MetricsLine) if bucket.exists(metrics_uri) else []
    manifest_uri = layout.join(folder, layout.RUN_MANIFEST)
    manifest = bucket.read_document(manifest_uri, RunManifest) if bucket.exists(manifest_uri) else None
    if _cpu_sweep(spec):
        chips = cpu_cores(spec.resources.per_trial.cpu)
    else:
        chips = float(manifest.host.accelerator.count if manifest else spec.resources.per_trial.count)
    if manifest is None:
        return TrialEvidence(record, metrics, chips)
    return TrialEvidence(record, metrics, chips, manifest.compile_cache, manifest.segments)


def _eval_summary(root: str, trial_id: str) -> EvalSummary | None:
    uri = layout.join(layout.trial_dir(root, trial_id), layout.EVAL_SUMMARY)
    return bucket.read_document(uri, EvalSummary) if bucket.exists(uri) else None
