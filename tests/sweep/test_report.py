"""report.html: one self-contained page (no URL it could fetch), whose plotted data is the
evidence's: rung scores and the rung decisions ASHA recorded (rung_decisions.json) exactly as
recorded, best score against compute, params against score (cut trials by their last rung score),
and the winner's test score beside its selection score."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import (
    AcceleratorInfo,
    BestTrialRecord,
    CompileCacheUse,
    EvalSummary,
    HostInfo,
    MetricsLine,
    ObjectiveRecord,
    Plan,
    RungScore,
    RunManifest,
    SearchPlan,
    SeededPoint,
    SkippedPoint,
    SweepRef,
    SweepSummary,
    TrialRecord,
    WarmStartRecord,
)
from tunesweep_evidence.judge import JUDGE
from tunesweep_evidence.rungs import RungLadder, decision_problems, describe
from tunesweep_trainer.sweep.report import write_report
from tunesweep_trainer.sweep.report_data import TrialEvidence, compile_cache_tally

START = datetime(2026, 1, 1, tzinfo=UTC)
SWEEP = SweepRef(name="rung-sweep", namespace="team-a", uid="uid-1")


@dataclass
class FixtureTrial:
    trial_id: str
    status: str
    params: dict[str, Any]
    start_s: float
    """Seconds after START the trial started."""
    seconds_per_step: float
    last_step: int
    rungs: dict[int, float] = field(default_factory=dict)
    primary_score: float | None = None
    test_score: float | None = None
    error: str | None = None

    def elapsed(self, step: int) -> float:
        return step * self.seconds_per_step

    def finished_s(self) -> float:
        return self.start_s + self.elapsed(self.last_step)


def params(learning_rate: float, batch_size: int) -> dict[str, Any]:
    return {"training.learning_rate": learning_rate, "training.per_device_batch_size": batch_size}


# ASHA, reductionFactor 2, rungs at steps 10 and 20 (max_steps 40). The rung decisions are
# DECISION_ORDER recorded with RungLadder (below); start_s and seconds_per_step only place the trials
# in time (compute in finish order).
# Columns: id, status, params, start_s, seconds_per_step, last_step, rungs, primary score, test score.
TRIALS = [
    FixtureTrial("t0", "succeeded", params(1e-3, 4), 0, 0.5, 40, {10: 0.4, 20: 0.6}, 0.7, 0.65),
    FixtureTrial("t1", "early_stopped", params(1e-2, 8), 2, 0.6, 10, {10: 0.2}),
    FixtureTrial("t2", "succeeded", params(3e-4, 8), 3, 0.4, 40, {10: 0.8, 20: 0.9}, 0.9, 0.85),
    FixtureTrial("t3", "early_stopped", params(1e-4, 4), 4, 0.7, 20, {10: 0.5, 20: 0.3}),
    FixtureTrial("t4", "failed", params(5e-3, 4), 5, 1.0, 5, error="RESOURCE_EXHAUSTED: out of memory"),
]
# The order the scheduler took its decisions in. At step 20 t3 comes before t2 although t2's
# started_at + elapsed_s there (11 s) is before t3's (18 s): a report that recomputed the order from
# times would give t3 the cutoff 0.75 over 2 trials, not the recorded 0.6 over 1.
# Step 10: t0 first; t2 0.8 >= 0.4; t1 0.2 < median(0.4, 0.8) = 0.6, cut; t3 0.5 >= median(0.4, 0.8,
# 0.2) = 0.4. Step 20: t0 first; t3 0.3 < 0.6, cut; t2 0.9 >= median(0.6, 0.3) = 0.45.
DECISION_ORDER = [("t0", 10), ("t2", 10), ("t1", 10), ("t3", 10), ("t0", 20), ("t3", 20), ("t2", 20)]
WINNER = "t2"


def spec(*, accelerator: bool) -> dict[str, Any]:
    per_trial = {"accelerator": "nvidia.com/gpu", "count": 2, "cpu": "4"} if accelerator else {"cpu": "500m"}
    return {
        "mode": "production",
        "trainer": {
            "backend": "mock",
            "baseConfig": {
                "model": {"name": "tiny", "max_length": 64},
                "training": {"max_steps": 40, "report_every_steps": 5, "learning_rate": 1e-3},
                "data": {"eval_size": 20},
            },
        },
        "searchSpace": {
            "training.learning_rate": {"loguniform": [1e-4, 1e-2]},
            "training.per_device_batch_size": {"choice": [4, 8]},
        },
        "earlyStopping": {"name": "asha", "gracePeriod": 10, "reductionFactor": 2},
        "trials": {"count": 5, "parallel": 3},
        "resources": {"perTrial": per_trial},
        "evidence": {"uri": "file:///unused"},
    }


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat()


def recorded_ladder() -> RungLadder:
    """DECISION_ORDER recorded, as the scheduler records its decisions."""
    ladder = RungLadder([10, 20], 2)
    rungs = {t.trial_id: t.rungs for t in TRIALS}
    for trial_id, step in DECISION_ORDER:
        assert ladder.record(trial_id, step, rungs[trial_id][step]) is not None
    return ladder


def write_sweep(
    root: Path, *, accelerator: bool = True, planned: bool = True, decisions: bool = True
) -> Plan:
    """A finished ASHA sweep's evidence, as the driver and the trials leave it (without
    rung_decisions.json when `decisions` is false: a sweep from before the scheduler recorded them)."""
    plan = Plan(
        sweep=SWEEP,
        spec=spec(accelerator=accelerator),
        evidence_uri=str(root),
        created_at=at(0),
        search=SearchPlan(rung_steps=[10, 20]) if planned else None,
    )
    bucket.write_document(layout.join(str(root), layout.PLAN), plan)
    if decisions:
        bucket.write_document(layout.join(str(root), layout.RUNG_DECISIONS), recorded_ladder().document())
    for trial in TRIALS:
        folder = layout.trial_dir(str(root), trial.trial_id)
        manifest = RunManifest(
            run_id=f"run-{trial.trial_id}",
            tuning_job_id=SWEEP.uid,
            trial_id=trial.trial_id,
            backend="mock",
            params=trial.params,
            config={},
            seed=0,
            host=HostInfo(
                hostname="node-1",
                python="3.11",
                accelerator=AcceleratorInfo(platform="gpu", count=2)
                if accelerator
                else AcceleratorInfo(platform="cpu", count=1),
            ),
            status=trial.status,
            error=trial.error,
            started_at=at(trial.start_s),
            finished_at=at(trial.finished_s()),
        )
        bucket.write_document(layout.join(folder, layout.RUN_MANIFEST), manifest)
        lines = [
            MetricsLine(
                step=step, loss=1 / step, elapsed_s=trial.elapsed(step), rung_score=trial.rungs.get(step)
            )
            for step in range(5, trial.last_step + 1, 5)
        ]
        bucket.write_jsonl(layout.join(folder, layout.METRICS), lines)
        if trial.primary_score is not None:
            summary = EvalSummary(
                run_id=f"run-{trial.trial_id}",
                trial_id=trial.trial_id,
                mode="production",
                backend="mock",
                primary_score=trial.primary_score,
                n_examples=0,
                judge=JUDGE,
                rows=[],
                test_score=trial.test_score,
            )
            bucket.write_document(layout.join(folder, layout.EVAL_SUMMARY), summary)
    return plan


def summary_of(*, best_test_score: float | None = 0.85) -> SweepSummary:
    winner = next(t for t in TRIALS if t.trial_id == WINNER)
    return SweepSummary(
        sweep=SWEEP,
        mode="production",
        objective=ObjectiveRecord(metric="primary_score", mode="max"),
        status="succeeded",
        trials=[
            TrialRecord(
                trial_id=t.trial_id,
                status=t.status,
                params=t.params,
                primary_score=t.primary_score,
                error=t.error,
                iterations=t.last_step // 5,
                started_at=at(t.start_s),
                finished_at=at(t.finished_s()),
                rung_scores=[RungScore(step=s, score=v) for s, v in t.rungs.items()],
            )
            for t in TRIALS
        ],
        best_trial=BestTrialRecord(
            trial_id=WINNER,
            params=winner.params,
            primary_score=winner.primary_score,
            test_score=best_test_score,
        ),
        updated_at=at(100),
    )


class _Page(HTMLParser):
    """Every tag's attributes, and each script's and style's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._open: tuple[str, dict[str, str | None]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = (tag, dict(attrs))
            if tag == "script":
                self.scripts.append((dict(attrs), ""))
            else:
                self.styles.append("")

    def handle_data(self, data: str) -> None:
        if self._open is None:
            return
        if self._open[0] == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        else:
            self.styles[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._open = None


def parse(report: Path) -> tuple[_Page, dict[str, dict[str, Any]]]:
    page = _Page()
    page.feed(report.read_text())
    figures = {
        str(attrs["data-figure"]): json.loads(text) for attrs, text in page.scripts if "data-figure" in attrs
    }
    return page, figures


def traces(figure: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [t for t in figure["data"] if t.get("name") == name]


def trace(figure: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = traces(figure, name)
    return found


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The cells of each row below the header row of the table whose first header is `first_header`."""
    start = text.index(f"<tr><th>{first_header}</th>")
    table = text[start : text.index("</table>", start)]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.DOTALL)[1:]
    return [[html.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)] for row in rows]


URL = re.compile(r"(https?:)?//", re.IGNORECASE)


def test_the_report_is_one_self_contained_file(tmp_path: Path) -> None:
    plan = write_sweep(tmp_path)
    before = set(bucket.list_dir(str(tmp_path)))
    uri = write_report(plan, summary_of())

    assert uri == layout.join(str(tmp_path), layout.REPORT)
    assert set(bucket.list_dir(str(tmp_path))) - before == {layout.REPORT}  # no PNG, nothing beside it
    page, figures = parse(tmp_path / layout.REPORT)
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
        for name in ("src", "href", "srcset", "data", "poster", "action", "xlink:href", "background"):
            assert not URL.match((attrs.get(name) or "").strip()), (tag, name, attrs[name])
        assert not re.search(r"url\(|@import", attrs.get("style") or ""), (tag, attrs)
    for css in page.styles:
        assert not re.search(r"url\(|@import", css)
    assert all("src" not in attrs for attrs, _ in page.scripts)
    # plotly.js, inlined exactly as the library ships it for offline use, once; its own URL strings
    # are the logo's link (hidden: displaylogo false) and map tiles (no map traces here).
    bundles = [text for _, text in page.scripts if text == get_plotlyjs()]
    assert len(bundles) == 1
    others = [text for _, text in page.scripts if text != get_plotlyjs()]
    assert others and not any(re.search(r"https?:", text, re.IGNORECASE) for text in others)
    assert set(figures) == {"winner", "rungs", "compute", "parcoords", "param-0", "param-1"}
    for figure in figures.values():
        assert figure["config"]["displaylogo"] is False
        assert {t["type"] for t in figure["data"]} <= {"scatter", "bar", "parcoords"}


def test_the_rung_plot_is_the_recorded_rung_scores_and_decisions(tmp_path: Path) -> None:
    write_report(write_sweep(tmp_path), summary_of())
    _, figures = parse(tmp_path / layout.REPORT)
    rungs = figures["rungs"]
    decisions = recorded_ladder().decisions
    rung_scores = {t.trial_id: t.rungs for t in TRIALS}
    ends = {t.trial_id: (t.status, 40) for t in TRIALS}  # max_steps 40
    assert decision_problems(recorded_ladder().document(), [10, 20], rung_scores, ends) == []
    cut = [d for d in decisions if d.cut]
    assert [(d.trial_id, d.step, d.cutoff, d.compared_with) for d in cut] == [
        ("t1", 10, pytest.approx(0.6), 2),
        ("t3", 20, pytest.approx(0.6), 1),  # recorded before t2 at step 20
    ]

    for trial in TRIALS:
        if trial.rungs:
            curve = trace(rungs, trial.trial_id)
            assert (curve["x"], curve["y"]) == (list(trial.rungs), list(trial.rungs.values()))
    assert not [t for t in rungs["data"] if t.get("name") == "t4"]  # failed before any rung
    cuts = trace(rungs, "cut here by ASHA")
    assert list(zip(cuts["x"], cuts["y"], strict=True)) == [(d.step, d.score) for d in cut]
    assert cuts["hovertext"] == [f"{d.trial_id} {describe(d)}" for d in cut]
    assert cuts["hovertext"][1] == (
        "t3 cut at rung step 20: rung score 0.300 below the cutoff 0.600 of the 1 trial(s) before it there"
    )
    cutoffs = trace(rungs, "the cutoff a cut trial was compared with")
    assert list(zip(cutoffs["x"], cutoffs["y"], strict=True)) == [(d.step, d.cutoff) for d in cut]
    assert sorted(shape["x0"] for shape in rungs["layout"]["shapes"]) == [10, 20]

    text = (tmp_path / layout.REPORT).read_text()
    ours = text.replace(get_plotlyjs(), "")  # plotly.js has words of its own
    assert "recomput" not in ours and "does not explain" not in ours
    # Every recorded decision, in the order taken, and nothing else.
    assert table_rows(text, "#") == [
        [
            str(index),
            d.trial_id,
            str(d.step),
            f"{d.score:.3f}",
            str(d.compared_with),
            "—" if d.cutoff is None else f"{d.cutoff:.3f}",
            describe(d),
        ]
        for index, d in enumerate(decisions, start=1)
    ]
    assert [row[1:3] for row in table_rows(text, "#")] == [[t, str(s)] for t, s in DECISION_ORDER]
    # Per rung: the last recorded cutoff there (t3's at step 10, t2's at step 20).
    assert table_rows(text, "rung step") == [
        ["10", "4", "4", "3", "1", "0.400 (for t3, over 3 trial(s))"],
        ["20", "3", "3", "2", "1", "0.450 (for t2, over 2 trial(s))"],
    ]


def test_without_rung_decisions_json_the_report_shows_no_decision(tmp_path: Path) -> None:
    write_report(write_sweep(tmp_path, decisions=False), summary_of())
    _, figures = parse(tmp_path / layout.REPORT)
    rungs = figures["rungs"]

    assert trace(rungs, "t3")["y"] == [0.5, 0.3]  # the rung scores are still drawn
    assert trace(rungs, "cut here by ASHA")["x"] == []
    assert trace(rungs, "the cutoff a cut trial was compared with")["x"] == []
    text = (tmp_path / layout.REPORT).read_text()
    assert "The scheduler recorded no decisions" in text
    assert "<th>#</th>" not in text and "<tr><th>rung step</th>" not in text


def test_best_score_against_steps_and_accelerator_seconds(tmp_path: Path) -> None:
    write_report(write_sweep(tmp_path), summary_of())
    _, figures = parse(tmp_path / layout.REPORT)
    steps, seconds = traces(figures["compute"], "best primary score so far")
    own = traces(figures["compute"], "the finishing trial's own score")
    unscored = traces(figures["compute"], "a trial without a score (cut or failed)")

    in_finish_order = sorted(TRIALS, key=FixtureTrial.finished_s)
    assert [t.trial_id for t in in_finish_order] == ["t1", "t4", "t3", "t2", "t0"]
    assert steps["hovertext"] == [f"after {t.trial_id} ({t.status})" for t in in_finish_order]
    assert steps["x"] == [10, 15, 35, 75, 115]  # each trial's last metrics.jsonl step, summed
    # 2 GPUs per trial (run_manifest) times elapsed_s at the last step: 6, 5, 14, 16, 20 seconds.
    assert seconds["x"] == pytest.approx([12, 22, 50, 82, 122])
    assert steps["y"] == seconds["y"] == [None, None, None, 0.9, 0.9]
    assert [(t["x"], t["y"]) for t in own] == [([75, 115], [0.9, 0.7]), ([82, 122], [0.9, 0.7])]
    assert [(t["x"], t["hovertext"]) for t in unscored] == [
        ([10, 15, 35], ["t1 (early_stopped)", "t4 (failed)", "t3 (early_stopped)"]),
        ([12, 22, 50], ["t1 (early_stopped)", "t4 (failed)", "t3 (early_stopped)"]),
    ]
    assert figures["compute"]["layout"]["xaxis2"]["title"]["text"] == "accelerator-seconds (chips × s) spent"


def test_a_cpu_sweep_counts_cpu_seconds_and_an_older_plan_derives_its_rungs(tmp_path: Path) -> None:
    write_report(write_sweep(tmp_path, accelerator=False, planned=False), summary_of())
    _, figures = parse(tmp_path / layout.REPORT)
    _, seconds = traces(figures["compute"], "best primary score so far")

    assert seconds["x"] == pytest.approx([3, 5.5, 12.5, 20.5, 30.5])  # perTrial.cpu 500m: half a core
    assert figures["compute"]["layout"]["xaxis2"]["title"]["text"] == "CPU-seconds (cores × s) spent"
    assert sorted(shape["x0"] for shape in figures["rungs"]["layout"]["shapes"]) == [10, 20]


def with_compile_cache(root: Path, uses: dict[str, CompileCacheUse]) -> None:
    for trial_id, use in uses.items():
        uri = layout.join(layout.trial_dir(str(root), trial_id), layout.RUN_MANIFEST)
        manifest = bucket.read_document(uri, RunManifest)
        bucket.write_document(uri, manifest.model_copy(update={"compile_cache": use}))


def test_the_compile_cache_hit_rate_over_the_trials_that_recorded_it(tmp_path: Path) -> None:
    plan = write_sweep(tmp_path)
    # The first trial compiled its 4 executables, two later ones (another worker, same shared
    # folder) read them; t3 and t4 recorded no cache use (e.g. a backend without one).
    with_compile_cache(
        tmp_path,
        {
            "t0": CompileCacheUse(folder="/cache/gpu-h100-2", hits=0, misses=4),
            "t1": CompileCacheUse(folder="/cache/gpu-h100-2", hits=4, misses=0),
            "t2": CompileCacheUse(folder="/cache/gpu-h100-2", hits=3, misses=1),
        },
    )
    write_report(plan, summary_of())
    text = html.unescape((tmp_path / layout.REPORT).read_text())

    assert "<h2>Compile cache</h2>" in text
    assert "7 hits and 5 misses over 3 trials: hit rate <b>58%</b>" in text
    assert "<code>/cache/gpu-h100-2</code>" in text


def test_without_compile_cache_records_the_report_has_no_compile_cache_section(tmp_path: Path) -> None:
    write_report(write_sweep(tmp_path), summary_of())
    assert "Compile cache" not in (tmp_path / layout.REPORT).read_text()


def test_a_cache_that_was_never_looked_up_has_no_hit_rate() -> None:
    idle = CompileCacheUse(folder="/cache/cpu", hits=0, misses=0)
    trial = TrialEvidence(
        record=TrialRecord(trial_id="t0", status="failed"), metrics=[], chips=1, compile_cache=idle
    )
    tally = compile_cache_tally([trial])

    assert tally is not None and (tally.trials, tally.hit_rate) == (1, None)
    assert compile_cache_tally([]) is None


def test_params_against_score_include_cut_trials_by_their_last_rung(tmp_path: Path) -> None:
    write_report(write_sweep(tmp_path), summary_of())
    _, figures = parse(tmp_path / layout.REPORT)

    for index, (path, axis) in enumerate(
        (("training.learning_rate", "log"), ("training.per_device_batch_size", "linear"))
    ):
        figure = figures[f"param-{index}"]
        assert figure["layout"]["title"]["text"] == path and figure["layout"]["xaxis"]["type"] == axis
        final, cut = trace(figure, "primary score"), trace(figure, "last rung score (cut)")
        assert list(zip(final["x"], final["y"], strict=True)) == [
            (t.params[path], t.primary_score) for t in TRIALS if t.primary_score is not None
        ]
        assert list(zip(cut["x"], cut["y"], strict=True)) == [
            (t.params[path], list(t.rungs.values())[-1]) for t in TRIALS if t.status == "early_stopped"
        ]
    (parcoords,) = figures["parcoords"]["data"]
    lr, batch, score = parcoords["dimensions"]
    scored = [t for t in TRIALS if t.primary_score is not None]
    assert [10**v for v in lr["values"]] == pytest.approx(
        [t.params["training.learning_rate"] for t in scored]
    )
    assert batch["values"] == [t.params["training.per_device_batch_size"] for t in scored]
    assert score["values"] == [t.primary_score for t in scored] == parcoords["line"]["color"]


@pytest.mark.parametrize("best_test_score", [0.85, None])
def test_the_winners_test_score_beside_its_selection_score(
    tmp_path: Path, best_test_score: float | None
) -> None:
    write_report(write_sweep(tmp_path), summary_of(best_test_score=best_test_score))
    _, figures = parse(tmp_path / layout.REPORT)

    (bars,) = figures["winner"]["data"]
    assert bars["y"] == [0.9, 0.85]  # the summary's test score, else the winner's eval_summary.json
    text = (tmp_path / layout.REPORT).read_text()
    in_summary = "0.850" if best_test_score else "—"
    assert f"in sweep_summary.json: {in_summary}, in the winner's eval_summary.json: 0.850" in text


def test_the_trials_table(tmp_path: Path) -> None:
    write_report(write_sweep(tmp_path), summary_of())
    text = (tmp_path / layout.REPORT).read_text()

    table = text[text.index("<h2>Trials</h2>") :]
    assert '<tr class="best"><td>t2</td>' in table
    assert "<td>0.300 at step 20</td>" in table and "RESOURCE_EXHAUSTED: out of memory" in table
    assert "training.learning_rate=0.0003, training.per_device_batch_size=8" in table


def test_seeded_points_are_marked_apart_from_the_trials(tmp_path: Path) -> None:
    seeded = [
        SeededPoint(trial_id="old-1", params=params(2e-3, 4), primary_score=0.8),
        SeededPoint(trial_id="old-2", params=params(4e-3, 8), primary_score=0.6),
    ]
    record = WarmStartRecord(
        source="spec.warmStart[0].sweep earlier",
        evidence_uri="s3://evidence/team-a/earlier/uid-0",
        seeded=seeded,
        skipped=[
            SkippedPoint(trial_id="old-3", reason="not scored (status failed)"),
            SkippedPoint(trial_id="old-4", reason="outside this sweep's searchSpace: params.x: 9"),
            SkippedPoint(trial_id="old-5", reason="outside this sweep's searchSpace: params.x: 10"),
        ],
    )
    write_report(write_sweep(tmp_path), summary_of().model_copy(update={"warm_start": [record]}))
    _, figures = parse(tmp_path / layout.REPORT)

    for index, path in enumerate(("training.learning_rate", "training.per_device_batch_size")):
        marked = trace(figures[f"param-{index}"], "seeded (earlier sweep)")
        assert list(zip(marked["x"], marked["y"], strict=True)) == [
            (p.params[path], p.primary_score) for p in seeded
        ]
        final = trace(figures[f"param-{index}"], "primary score")  # this sweep's trials only
        assert len(final["x"]) == len([t for t in TRIALS if t.primary_score is not None])
    (parcoords,) = figures["parcoords"]["data"]
    assert len(parcoords["line"]["color"]) == len([t for t in TRIALS if t.primary_score is not None])
    assert table_rows((tmp_path / layout.REPORT).read_text(), "source") == [
        [
            "spec.warmStart[0].sweep earlier",
            "<code>s3://evidence/team-a/earlier/uid-0</code>",
            "2",
            "3",
            "1 not scored (status failed), 2 outside this sweep's searchSpace",
        ]
    ]


def test_without_a_warm_start_the_report_has_no_seeded_points(tmp_path: Path) -> None:
    write_report(write_sweep(tmp_path), summary_of())
    _, figures = parse(tmp_path / layout.REPORT)
    assert not traces(figures["param-0"], "seeded (earlier sweep)")
    assert 'id="warm-start"' not in (tmp_path / layout.REPORT).read_text()
