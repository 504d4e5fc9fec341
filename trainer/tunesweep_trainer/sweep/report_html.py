"""report.html: one self-contained page (plotly.js embedded once, each figure's JSON in a
`<script type="application/json" data-figure=...>`), so it opens offline and its data can be read
back: the winner's selection and test scores, rung scores and ASHA's decisions, best score against
compute, the compile cache's hit rate, params against score, and the trials table.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots
from tunesweep_evidence import layout
from tunesweep_evidence.documents import RungDecision, RungDecisions, SweepSummary, TrialRecord
from tunesweep_evidence.rungs import describe

from .report_data import (
    ParamPoint,
    ReportInput,
    RungPoint,
    budget_line,
    compile_cache_tally,
    compute_curve,
    param_points,
    rung_points,
    rung_summaries,
    seeded_points,
    skipped_reasons,
)

_STATUS_COLORS = {
    "succeeded": "#2ca02c",
    "early_stopped": "#ff7f0e",
    "failed": "#d62728",
    "interrupted": "#9467bd",
    "running": "#1f77b4",
    "pending": "#7f7f7f",
}
_CONFIG = {"displaylogo": False, "responsive": True}
_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:1300px}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px;
text-align:left;vertical-align:top}th{background:#f4f4f4}tr.best{background:#e6ffe6}tr.cut{background:#fff3e0}
.plot{width:100%}.params{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr))}
.note{color:#555;font-size:14px;max-width:1000px}code{font-size:12px}
.kpi{display:inline-block;margin:0 2em .5em 0}.kpi b{font-size:1.6em;display:block}"""
# Draws every figure from its embedded JSON once plotly.js (inlined above it) has loaded.
_DRAW = """for (const s of document.querySelectorAll('script[data-figure]')) {
  const f = JSON.parse(s.textContent);
  Plotly.newPlot('fig-' + s.dataset.figure, f.data, f.layout, f.config);
}"""


def render(view: ReportInput) -> str:
    summary = view.summary
    points = {t.record.trial_id: rung_points(t) for t in view.trials}
    sweep = summary.sweep
    counts = Counter(r.status for r in summary.trials)
    body = [
        f"<h1>Sweep {_e(sweep.namespace)}/{_e(sweep.name)}</h1>",
        f'<p class="note">uid {_e(sweep.uid)} · mode {_e(summary.mode)} · objective '
        f"{_e(summary.objective.metric)} ({_e(summary.objective.mode)}) · status <b>{_e(summary.status)}</b>"
        f"{(' · ' + _e(summary.reason)) if summary.reason else ''} · updated {_e(summary.updated_at)} · "
        + ", ".join(f"{n} {_e(status)}" for status, n in sorted(counts.items()))
        + "</p>",
        *_budget_section(summary),
        *_winner_section(view),
        *_rung_section(view, points),
        *_lineage_section(view, points),
        *_compute_section(view),
        *_compile_cache_section(view),
        *_param_section(view, points),
        *_warm_start_section(summary),
        "<h2>Trials</h2>",
        _trials_table(summary.trials, points, summary.best_trial.trial_id if summary.best_trial else None),
    ]
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>tunesweep: {_e(sweep.name)}</title><style>{_STYLE}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>\n'
        + "\n".join(body)
        + f"\n<script>{_DRAW}</script>\n</body></html>\n"
    )


def _budget_section(summary: SweepSummary) -> list[str]:
    line = budget_line(summary)
    return [] if line is None else [f'<p id="budget">{_e(line)}</p>']


def _winner_section(view: ReportInput) -> list[str]:
    best = view.summary.best_trial
    if best is None:
        return ["<h2>Winner</h2><p>No best trial.</p>"]
    test = best.test_score if best.test_score is not None else view.winner_test_score
    agreement = (
        ""
        if best.test_score is None or view.winner_test_score is None
        else " (they agree)"
        if best.test_score == view.winner_test_score
        else " (they differ)"
    )
    figure = go.Figure(
        go.Bar(
            x=["selection score (eval set)", "held-out test slice"],
            y=[best.primary_score, test],
            text=[_score(best.primary_score), _score(test)],
            textposition="outside",
            marker_color=["#1f77b4", "#9467bd"],
            width=0.4,
        ),
        layout={"yaxis": {"range": [0, 1.1], "title": {"text": "answer correctness"}}},
    )
    return [
        "<h2>Winner</h2>",
        f'<div class="kpi">best trial<b>{_e(best.trial_id)}</b></div>'
        f'<div class="kpi">selection score (primary)<b>{_score(best.primary_score)}</b></div>'
        f'<div class="kpi">held-out test score<b>{_score(test)}</b></div>',
        f'<p class="note">params <code>{_e(_params(best.params))}</code>. The selection score chose the '
        "winner; the test slice is held out: no decision (rungs, searcher, selection) read it. Test "
        f"score in sweep_summary.json: {_score(best.test_score)}, in the winner's eval_summary.json: "
        f"{_score(view.winner_test_score)}{agreement}. Promoted: "
        f'<a href="{layout.BEST_CONFIG}">{layout.BEST_CONFIG}</a>, '
        f'<a href="{layout.BEST_PARAMS}">{layout.BEST_PARAMS}</a>.</p>',
        _figure("winner", figure, height=320),
    ]


def _rung_section(view: ReportInput, points: dict[str, list[RungPoint]]) -> list[str]:
    if view.algorithm == "pbt":
        return [
            "<h2>Rungs</h2><p>Population Based Training: no trial is cut. At each perturbation step "
            "the bottom trials go on from a top trial's checkpoint with perturbed params (who went "
            "on from whom: below, once any trial has).</p>"
        ]
    if view.reduction_factor is None:
        return ["<h2>Rungs</h2><p>No early stopping: every trial trained to its max_steps.</p>"]
    recorded = view.rung_decisions
    decisions = recorded.decisions if recorded else []
    rf = recorded.reduction_factor if recorded else view.reduction_factor
    figure = _rung_lines(points)
    cuts = [d for d in decisions if d.cut]
    figure.add_scatter(
        x=[d.step for d in cuts],
        y=[d.score for d in cuts],
        mode="markers",
        name="cut here by ASHA",
        marker={"symbol": "x", "size": 14, "color": "#d62728", "line": {"width": 1}},
        hovertext=[f"{_e(d.trial_id)} {_e(describe(d))}" for d in cuts],
        hoverinfo="text",
    )
    figure.add_scatter(
        x=[d.step for d in cuts],
        y=[d.cutoff for d in cuts],
        mode="markers",
        name="the cutoff a cut trial was compared with",
        marker={"symbol": "line-ew-open", "size": 36, "color": "#222", "line": {"width": 2}},
        hovertext=[
            f"{_e(d.trial_id)}: cutoff {_score(d.cutoff)} of the {d.compared_with} trial(s) before it"
            for d in cuts
        ],
        hovertemplate="step %{x}: %{hovertext}<extra></extra>",
    )
    for step in view.rung_steps:
        figure.add_vline(x=step, line={"dash": "dot", "color": "#999", "width": 1})
    figure.update_layout(
        # Rungs are geometric (gracePeriod * reductionFactor^k): evenly spaced on a log axis.
        xaxis={"type": "log", "title": {"text": "optimizer step, log axis (dotted: planned rungs)"}},
        yaxis={"title": {"text": "rung score (answer correctness, rung slice)"}, "range": [-0.03, 1.03]},
    )
    planned = ", ".join(map(str, view.rung_steps)) or "none"
    out = [
        "<h2>Rung scores and ASHA's cuts</h2>",
        f'<p class="note">Planned rungs at steps {planned}. At each rung a trial scores the rung slice '
        f"of the eval data, and ASHA keeps the best 1/{rf} of the trials that reached that rung: a trial "
        f"goes on when its rung score is at least the {100 * (1 - 1 / rf):.0f}th percentile of the "
        "rung scores recorded there before it (the first trial at a rung always goes on). "
        + (
            f"The decisions and cutoffs below are the scheduler's, as it recorded them, in the order it "
            f'took them, in <a href="{layout.RUNG_DECISIONS}">{layout.RUNG_DECISIONS}</a> '
            "(verify replays each one). A red × marks where a trial was cut, and a black dash the "
            "cutoff it was compared with (hover for which). A trial whose last step is a rung scores "
            "it without a decision there (it finishes and is evaluated instead), so a rung can hold "
            "more scores than decisions."
            if recorded
            else f"The scheduler recorded no decisions: this sweep has no {layout.RUNG_DECISIONS} (no "
            "trial scored a rung before its last step, or a sweep from before the scheduler recorded "
            "its decisions), so no decision or cutoff is shown."
        )
        + "</p>",
        _figure("rungs", figure),
    ]
    if recorded is None:
        return out
    per_rung = "\n".join(
        f"<tr><td>{r.step}</td><td>{r.scored}</td><td>{r.went_on + r.cut}</td><td>{r.went_on}</td>"
        f"<td>{r.cut}</td><td>{_last_cutoff(r.last_cutoff)}</td></tr>"
        for r in rung_summaries(view.rung_steps, points, decisions)
    )
    out.append(
        "<table><tr><th>rung step</th><th>trials that scored it</th><th>decisions recorded</th>"
        "<th>went on</th><th>cut</th><th>last recorded cutoff there</th></tr>\n"
        f"{per_rung}</table>"
    )
    out.append(_decisions_table(recorded))
    return out


def _rung_lines(points: dict[str, list[RungPoint]]) -> go.Figure:
    """A figure with each trial's rung scores as a line."""
    figure = go.Figure()
    for trial_id, trial_points in points.items():
        if trial_points:
            figure.add_scatter(
                x=[p.step for p in trial_points],
                y=[p.score for p in trial_points],
                mode="lines+markers",
                name=trial_id,
                hovertemplate=f"{_e(trial_id)}<br>step %{{x}}: rung score %{{y:.3f}}<extra></extra>",
            )
    return figure


def _lineage_section(view: ReportInput, points: dict[str, list[RungPoint]]) -> list[str]:
    """PBT: each trial's rung scores, and a dashed arrow where a trial went on from another's
    checkpoint; and each trial's schedule of params."""
    exploits = [(t.record.trial_id, s) for t in view.trials for s in t.segments if s.source is not None]
    if not any(t.segments for t in view.trials):
        return []
    score = {(tid, p.step): p.score for tid, trial_points in points.items() for p in trial_points}
    figure = _rung_lines(points)
    for trial_id, segment in exploits:
        source = segment.source
        assert source is not None
        here = score.get((source.trial_id, source.step))
        if here is None:
            continue
        # the donor's score at the step the copy was taken, to the recipient's next score
        after = [p for p in points.get(trial_id, []) if p.step > segment.from_step]
        end = (after[0].step, after[0].score) if after else (source.step, here)
        figure.add_annotation(
            x=end[0], y=end[1], ax=source.step, ay=here, xref="x", yref="y", axref="x", ayref="y",
            showarrow=True, arrowhead=2, arrowcolor="#555", opacity=0.7,
            hovertext=f"{_e(trial_id)} went on from {_e(source.trial_id)}'s step {source.step}",
        )  # fmt: skip
    figure.update_layout(
        xaxis={"title": {"text": "optimizer step"}},
        yaxis={"title": {"text": "rung score (answer correctness, rung slice)"}, "range": [-0.03, 1.03]},
    )
    best = view.summary.best_trial.trial_id if view.summary.best_trial else None
    rows = "\n".join(
        f"<tr{' class=best' if t.record.trial_id == best else ''}><td>{_e(t.record.trial_id)}</td>"
        f"<td>{index}</td><td>{s.from_step}</td><td>{_params(s.params)}</td>"
        f"<td>{_e(f'{s.source.trial_id} at step {s.source.step}') if s.source else 'its own start'}</td></tr>"
        for t in view.trials
        for index, s in enumerate(t.segments)
    )
    return [
        "<h2>Population Based Training: who went on from whom</h2>",
        f'<p class="note">At each perturbation step ({", ".join(map(str, view.rung_steps))}) every trial '
        "scores the rung slice; those at the bottom go on from the checkpoint of one at the top, with "
        "perturbed params (an arrow: from the copied trial's score at that step to the copier's next "
        f"score). {len(exploits)} exploit(s). Each trial's schedule of params is in its run_manifest.json "
        "segments (verify checks every source checkpoint); the winner's is promoted in "
        f'<a href="{layout.BEST_PARAMS}">{layout.BEST_PARAMS}</a> schedule.</p>',
        _figure("lineage", figure),
        "<table><tr><th>trial</th><th>segment</th><th>from step</th><th>params</th>"
        f"<th>went on from</th></tr>\n{rows}</table>",
    ]


def _last_cutoff(decision: RungDecision | None) -> str:
    if decision is None:
        return "— (no decision with a cutoff)"
    return f"{_score(decision.cutoff)} (for {_e(decision.trial_id)}, over {decision.compared_with} trial(s))"


def _decisions_table(recorded: RungDecisions) -> str:
    if not recorded.decisions:
        return f"<p>{layout.RUNG_DECISIONS} holds no decision.</p>"
    rows = "\n".join(
        f"<tr{' class=cut' if d.cut else ''}><td>{index}</td><td>{_e(d.trial_id)}</td><td>{d.step}</td>"
        f"<td>{d.score:.3f}</td><td>{d.compared_with}</td><td>{_score(d.cutoff)}</td>"
        f"<td>{_e(describe(d))}</td></tr>"
        for index, d in enumerate(recorded.decisions, start=1)
    )
    return (
        "<details open><summary>Each decision, in the order the scheduler took them</summary><table>"
        "<tr><th>#</th><th>trial</th><th>rung step</th><th>rung score</th><th>trials there before it</th>"
        f"<th>cutoff</th><th>decision</th></tr>\n{rows}</table></details>"
    )


def _compute_section(view: ReportInput) -> list[str]:
    curve = compute_curve(view.trials, view.summary.objective.mode)
    unit = (
        "accelerator-seconds (chips × s)" if view.compute_unit == "accelerator" else "CPU-seconds (cores × s)"
    )
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=("trial-steps", unit))
    hover = [f"after {_e(p.trial_id)} ({_e(p.status)})" for p in curve]
    scored = [p for p in curve if p.score is not None]
    unscored = [p for p in curve if p.score is None]
    for col, x in ((1, lambda p: p.trial_steps), (2, lambda p: p.chip_seconds)):
        figure.add_scatter(
            x=[x(p) for p in curve],
            y=[p.best_score for p in curve],
            mode="lines+markers",
            line={"shape": "hv", "color": "#1f77b4"},
            name="best primary score so far",
            showlegend=col == 1,
            hovertext=hover,
            hovertemplate="%{hovertext}<br>compute %{x:.4g}: best %{y:.3f}<extra></extra>",
            row=1,
            col=col,
        )
        figure.add_scatter(
            x=[x(p) for p in scored],
            y=[p.score for p in scored],
            mode="markers",
            marker={"color": "#999", "size": 7},
            name="the finishing trial's own score",
            showlegend=col == 1,
            hovertext=[_e(p.trial_id) for p in scored],
            hovertemplate="%{hovertext}: %{y:.3f}<extra></extra>",
            row=1,
            col=col,
        )
        figure.add_scatter(
            x=[x(p) for p in unscored],
            y=[0.0 for _ in unscored],
            mode="markers",
            marker={"color": "#d62728", "symbol": "x", "size": 8},
            name="a trial without a score (cut or failed)",
            showlegend=col == 1,
            hovertext=[f"{_e(p.trial_id)} ({_e(p.status)})" for p in unscored],
            hovertemplate="%{hovertext}<extra></extra>",
            row=1,
            col=col,
        )
    figure.update_yaxes(title_text="primary score", range=[-0.03, 1.03], row=1, col=1)
    figure.update_xaxes(title_text="trial-steps spent", row=1, col=1)
    figure.update_xaxes(title_text=unit + " spent", row=1, col=2)
    source = (
        "accelerator chips from each trial's run_manifest.json (host.accelerator.count)"
        if view.compute_unit == "accelerator"
        else "a CPU sweep: cores from spec.resources.perTrial.cpu"
    )
    return [
        "<h2>Best score against compute</h2>",
        f'<p class="note">Each point is a trial finishing, in finish order (cut and failed trials add '
        f"compute but no score); compute is cumulative over the trials finished so far: the steps "
        f"they trained, and {unit}, with {source}, times metrics.jsonl elapsed_s at the trial's last "
        "logged step. Grey dots: the finishing trial's own score; red ×: a trial that spent compute and "
        "left no score.</p>",
        _figure("compute", figure, top=60),
    ]


def _compile_cache_section(view: ReportInput) -> list[str]:
    tally = compile_cache_tally(view.trials)
    if tally is None:
        return []
    rate = "no lookups" if tally.hit_rate is None else f"hit rate <b>{tally.hit_rate:.0%}</b>"
    return [
        "<h2>Compile cache</h2>",
        f'<p class="note">{tally.hits} hits and {tally.misses} misses over {tally.trials} trials: {rate}. '
        "A miss compiled an executable (seconds on a CPU, minutes for a large model on accelerators); a "
        "hit read one that an earlier trial, on any worker sharing the cache, compiled for the same "
        "shape. From each trial's run_manifest.json compile_cache; cache folders: "
        + ", ".join(f"<code>{_e(folder)}</code>" for folder in tally.folders)
        + ".</p>",
    ]


def _param_section(view: ReportInput, points: dict[str, list[RungPoint]]) -> list[str]:
    out = ["<h2>Parameters against score</h2>"]
    scored = [t.record for t in view.trials if t.record.primary_score is not None]
    paths = list(view.loguniform)
    if scored:
        dimensions = [
            _parcoords_dimension(p, [r.params.get(p) for r in scored], view.loguniform[p]) for p in paths
        ]
        scores = [r.primary_score for r in scored]
        dimensions.append({"label": "primary score", "values": scores, "range": [0, 1]})
        figure = go.Figure(
            go.Parcoords(
                dimensions=dimensions,
                line={"color": scores, "colorscale": "Viridis", "cmin": 0, "cmax": 1, "showscale": True},
            )
        )
        figure.update_layout(margin={"l": 80, "r": 80})
        out += [
            f'<p class="note">Parallel coordinates: one line per scored trial ({len(scored)}), coloured '
            "by primary score; drag along an axis to filter. Log-uniform params are on a log10 scale.</p>",
            _figure("parcoords", figure, top=70),
        ]
    out.append(
        '<p class="note">Score against each param: ● the primary score of a finished trial, '
        "× the last rung score of a trial without one (cut by the scheduler), at the step shown on hover"
        + (
            "; ◇ a point an earlier sweep seeded the searcher with (its trial, not this sweep's)"
            if view.summary.warm_start
            else ""
        )
        + '.</p><div class="params">'
    )
    for index, path in enumerate(paths):
        param = param_points(view.trials, points, path)
        out.append(
            _figure(
                f"param-{index}",
                _param_figure(path, param, seeded_points(view.summary, path), view.loguniform[path]),
                height=340,
                top=70,
            )
        )
    out.append("</div>")
    return out


def _warm_start_section(summary: SweepSummary) -> list[str]:
    if not summary.warm_start:
        return []
    rows = "".join(
        f"<tr><td>{_e(record.source)}</td><td><code>{_e(record.evidence_uri)}</code></td>"
        f"<td>{len(record.seeded)}</td><td>{len(record.skipped)}</td><td>"
        + _e(", ".join(f"{n} {reason}" for reason, n in sorted(skipped_reasons(record).items())))
        + "</td></tr>"
        for record in summary.warm_start
    )
    return [
        '<h2 id="warm-start">Warm start</h2>',
        '<p class="note">Before its first trial, the searcher was told these earlier sweeps\' scored trials '
        "(their evidence verified, their primary scores recomputed from their eval rows): they ran in those "
        "sweeps, count as none of this sweep's trials, and are never promoted.</p>",
        "<table><tr><th>source</th><th>evidence</th><th>seeded</th><th>skipped</th><th>why skipped</th></tr>"
        + rows
        + "</table>",
    ]


def _parcoords_dimension(path: str, values: Sequence[Any], log: bool) -> dict[str, Any]:
    if _numeric(values) and log:
        logs = [math.log10(v) for v in values]
        ticks = _ticks(min(logs), max(logs))
        return {
            "label": f"{path} (log)",
            "values": logs,
            "tickvals": ticks,
            "ticktext": [f"{10**t:.2g}" for t in ticks],
        }
    if _numeric(values):
        return {"label": path, "values": list(values)}
    labels = list(dict.fromkeys(str(v) for v in values))
    return {
        "label": path,
        "values": [labels.index(str(v)) for v in values],
        "tickvals": list(range(len(labels))),
        "ticktext": labels,
    }


def _ticks(low: float, high: float) -> list[float]:
    return [low] if high == low else [low + (high - low) * i / 4 for i in range(5)]


def _param_figure(path: str, param: list[ParamPoint], seeded: list[ParamPoint], log: bool) -> go.Figure:
    numeric = _numeric([p.value for p in param + seeded])
    figure = go.Figure()
    for name, chosen, symbol in (
        ("primary score", [p for p in param if p.last_rung_step is None], "circle"),
        ("last rung score (cut)", [p for p in param if p.last_rung_step is not None], "x"),
        *([("seeded (earlier sweep)", seeded, "diamond-open")] if seeded else []),
    ):
        figure.add_scatter(
            x=[p.value if numeric else str(p.value) for p in chosen],
            y=[p.score for p in chosen],
            mode="markers",
            name=name,
            marker={"symbol": symbol, "size": 10},
            hovertext=[
                _e(p.trial_id)
                + ("" if p.last_rung_step is None else f" (cut; rung at step {p.last_rung_step})")
                for p in chosen
            ],
            hovertemplate="%{hovertext}<br>%{x}: %{y:.3f}<extra></extra>",
        )
    axis_type = ("log" if log else "linear") if numeric else "category"
    figure.update_layout(
        # Just above the plot, below the mode bar.
        title={"text": path, "y": 1, "yref": "paper", "yanchor": "bottom", "pad": {"b": 8}},
        xaxis={"type": axis_type, "title": {"text": path + (" (log axis)" if numeric and log else "")}},
        yaxis={"title": {"text": "score"}, "range": [-0.03, 1.03]},
        legend={"orientation": "h", "y": -0.3},
    )
    return figure


def _trials_table(
    records: Sequence[TrialRecord], points: dict[str, list[RungPoint]], best_id: str | None
) -> str:
    rows = []
    for record in records:
        css = ' class="best"' if record.trial_id == best_id else ""
        last = points[record.trial_id][-1] if points[record.trial_id] else None
        color = _STATUS_COLORS[record.status]
        rows.append(
            f'<tr{css}><td>{_e(record.trial_id)}</td><td style="color:{color}">{_e(record.status)}</td>'
            f"<td><code>{_e(_params(record.params))}</code></td><td>{_score(record.primary_score)}</td>"
            f"<td>{'—' if last is None else f'{last.score:.3f} at step {last.step}'}</td>"
            f"<td>{_e(record.error or '')}</td></tr>"
        )
    return (
        "<table><tr><th>trial</th><th>status</th><th>params</th><th>primary score</th><th>last rung</th>"
        "<th>error</th></tr>\n" + "\n".join(rows) + "</table>"
    )


def _figure(name: str, figure: go.Figure, *, height: int = 420, top: int = 40) -> str:
    figure.update_layout(template="plotly_white", height=height, margin={"t": top})
    spec = {**json.loads(figure.to_json()), "config": _CONFIG}
    # "</" escaped so that no string in the data can end the script element early.
    payload = json.dumps(spec).replace("</", "<\\/")
    return (
        f'<div class="plot" id="fig-{name}" style="height:{height}px"></div>'
        f'<script type="application/json" data-figure="{name}">{payload}</script>'
    )


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _params(params: dict[str, object]) -> str:
    return ", ".join(
        f"{key}={f'{value:.4g}' if isinstance(value, float) else value}"
        for key, value in sorted(params.items())
    )


def _score(score: float | None) -> str:
    return "—" if score is None else f"{score:.3f}"


def _e(text: object) -> str:
    return html.escape(str(text))
