"""report.html and its plots, beside the evidence: score per trial, score against each
hyperparameter (log axis for loguniform ones), and the learning curves from metrics.jsonl.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global state).
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence

from matplotlib.figure import Figure
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import MetricsLine, Plan, SweepSummary, TrialRecord

from .plan import spec_of

_STATUS_COLORS = {
    "succeeded": "tab:green",
    "early_stopped": "tab:orange",
    "failed": "tab:red",
    "running": "tab:blue",
    "pending": "tab:gray",
}
SCORES_PNG = "report-scores.png"
CURVES_PNG = "report-learning-curves.png"


def write_report(plan: Plan, document: SweepSummary) -> str:
    """Write the plots and report.html below the sweep's evidence folder; returns report.html's URI."""
    root = plan.evidence_uri
    spec = spec_of(plan)
    plots = {SCORES_PNG: scores_plot(document.trials)}
    for path, dim in spec.search_space.items():
        plots[param_png(path)] = param_plot(document.trials, path, log=dim.loguniform is not None)
    plots[CURVES_PNG] = curves_plot({r.trial_id: _metrics(root, r.trial_id) for r in document.trials})
    for name, png in plots.items():
        bucket.write_bytes(layout.join(root, name), png)
    uri = layout.join(root, layout.REPORT)
    bucket.write_text(uri, render_html(document, list(plots)))
    return uri


def param_png(path: str) -> str:
    return f"report-param-{re.sub(r'[^A-Za-z0-9_.-]', '_', path)}.png"


def scores_plot(records: Sequence[TrialRecord]) -> bytes:
    figure = Figure(figsize=(8, 3.5))
    axes = figure.add_subplot()
    ids = [r.trial_id for r in records]
    axes.bar(
        range(len(records)),
        [r.primary_score or 0.0 for r in records],
        color=[_STATUS_COLORS[r.status] for r in records],
    )
    axes.set_xticks(range(len(records)), ids, rotation=60, ha="right", fontsize=7)
    axes.set_ylabel("primary score")
    axes.set_ylim(0, 1)
    axes.set_title("Primary score per trial (colour: status; no bar: no score)")
    return _png(figure)


def param_plot(records: Sequence[TrialRecord], path: str, *, log: bool) -> bytes:
    figure = Figure(figsize=(5, 3.5))
    axes = figure.add_subplot()
    points = [
        (r.params[path], r.primary_score) for r in records if r.primary_score is not None and path in r.params
    ]
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x, _ in points)
    if points and numeric:
        axes.scatter([x for x, _ in points], [y for _, y in points], color="tab:blue")
        if log:
            axes.set_xscale("log")
    elif points:  # categorical values: one column each, in first-seen order
        labels = list(dict.fromkeys(str(x) for x, _ in points))
        axes.scatter([labels.index(str(x)) for x, _ in points], [y for _, y in points], color="tab:blue")
        axes.set_xticks(range(len(labels)), labels)
    axes.set_xlabel(path)
    axes.set_ylabel("primary score")
    axes.set_title(f"Score vs {path}")
    return _png(figure)


def curves_plot(curves: dict[str, list[MetricsLine]]) -> bytes:
    figure = Figure(figsize=(8, 4))
    axes = figure.add_subplot()
    for trial_id, lines in curves.items():
        points = [(line.step, line.loss) for line in lines if line.loss is not None]
        if points:
            axes.plot([s for s, _ in points], [loss for _, loss in points], label=trial_id, linewidth=1)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.set_title("Learning curves")
    if axes.lines:
        axes.legend(fontsize=6, ncol=2)
    return _png(figure)


def render_html(document: SweepSummary, images: Sequence[str]) -> str:
    sweep = document.sweep
    best = document.best_trial
    rows = "\n".join(_trial_row(r, best.trial_id if best else None) for r in document.trials)
    best_html = (
        f"<p>Best trial <b>{_e(best.trial_id)}</b>, primary score <b>{_score(best.primary_score)}</b>, "
        f"params <code>{_e(_params(best.params))}</code>. Promoted: "
        f'<a href="{layout.BEST_CONFIG}">{layout.BEST_CONFIG}</a>, '
        f'<a href="{layout.BEST_PARAMS}">{layout.BEST_PARAMS}</a>.</p>'
        if best
        else "<p>No best trial.</p>"
    )
    figures = "\n".join(f'<img src="{_e(name)}" alt="{_e(name)}">' for name in images)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>tunesweep: {_e(sweep.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}tr.best{{background:#e6ffe6}}
img{{max-width:48%;margin:4px;border:1px solid #eee}}</style></head><body>
<h1>Sweep {_e(sweep.namespace)}/{_e(sweep.name)}</h1>
<p>uid {_e(sweep.uid)} · mode {_e(document.mode)} · objective {_e(document.objective.metric)}
({_e(document.objective.mode)}) · status <b>{_e(document.status)}</b>
{("· " + _e(document.reason)) if document.reason else ""} · updated {_e(document.updated_at)}</p>
{best_html}
<h2>Trials</h2>
<table>
<tr><th>trial</th><th>status</th><th>primary score</th><th>reports</th><th>params</th><th>error</th></tr>
{rows}
</table>
<h2>Plots</h2>
{figures}
</body></html>
"""


def _trial_row(record: TrialRecord, best_id: str | None) -> str:
    css = ' class="best"' if record.trial_id == best_id else ""
    return (
        f"<tr{css}><td>{_e(record.trial_id)}</td><td>{_e(record.status)}</td>"
        f"<td>{_score(record.primary_score)}</td><td>{record.iterations}</td>"
        f"<td><code>{_e(_params(record.params))}</code></td><td>{_e(record.error or '')}</td></tr>"
    )


def _metrics(root: str, trial_id: str) -> list[MetricsLine]:
    uri = layout.join(layout.trial_dir(root, trial_id), layout.METRICS)
    return bucket.read_jsonl(uri, MetricsLine) if bucket.exists(uri) else []


def _params(params: dict[str, object]) -> str:
    return ", ".join(f"{key}={_value(value)}" for key, value in sorted(params.items()))


def _value(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _score(score: float | None) -> str:
    return "—" if score is None else f"{score:.4f}"


def _e(text: object) -> str:
    return html.escape(str(text))


def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
