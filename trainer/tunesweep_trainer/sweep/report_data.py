"""The numbers the sweep report plots, from the evidence alone (pure: no I/O, no plotting).

- Rungs: each trial's rung scores (the curves). ASHA's decisions are not computed here: the
  scheduler records each one, in the order it took them, in rung_decisions.json (its cutoff, the
  number of trials compared with, cut or not), and the report shows those as recorded; verify
  replays them with `tunesweep_evidence.rungs.RungLadder`.
- Compute: the best primary score so far against the compute of the trials finished so far (in
  finish order): trial-steps, and chip-seconds (accelerator chips, or CPU cores on a CPU sweep,
  times metrics.jsonl elapsed_s).
- Params: each trial's score against its params: the primary score, or for a trial without one
  (cut by the scheduler) its last rung score, marked as such.
- Warm start: the points earlier sweeps seeded the searcher with (sweep_summary.json warm_start),
  shown apart from this sweep's trials, and per source what was skipped and why.
- Compile cache: JAX's persistent compile cache hits and misses over the trials that recorded them
  (run_manifest.json compile_cache), and the hit rate: a miss compiles, a hit reads the executable.
- Budget: spec.budget's spend, what is left and the trials it cut, from sweep_summary.json `budget`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tunesweep_evidence.documents import (
    CompileCacheUse,
    MetricsLine,
    ObjectiveMode,
    RungDecision,
    RungDecisions,
    Segment,
    SweepSummary,
    TrialRecord,
    WarmStartRecord,
)


@dataclass(frozen=True)
class TrialEvidence:
    """What the report reads of one trial: its record, its metrics.jsonl, and what it ran on."""

    record: TrialRecord
    metrics: list[MetricsLine]
    chips: float
    """Accelerator chips (run_manifest host.accelerator.count), or CPU cores on a CPU sweep."""
    compile_cache: CompileCacheUse | None = None
    """run_manifest.json compile_cache; None when the trial recorded none (no cache, another backend)."""
    segments: list[Segment] = field(default_factory=list)
    """run_manifest.json segments (PBT): empty for a trial trained with one set of params."""


@dataclass(frozen=True)
class ReportInput:
    """Everything the report shows, read from the sweep's evidence folder."""

    summary: SweepSummary
    trials: list[TrialEvidence]
    rung_steps: list[int]
    """The planned rungs (plan.search, or derived from the spec for an older plan)."""
    reduction_factor: int | None
    """ASHA's; None without early stopping."""
    algorithm: str
    """spec.algorithm.name: under pbt no trial is cut, and trials go on from each other's checkpoints."""
    rung_decisions: RungDecisions | None
    """rung_decisions.json as the scheduler recorded it; None when absent (no ASHA, or a sweep from
    before the scheduler recorded its decisions)."""
    loguniform: dict[str, bool]
    """Each search-space path: whether it is sampled log-uniformly (plotted on a log axis)."""
    compute_unit: str
    """What `TrialEvidence.chips` counts: `accelerator` or `CPU`."""
    winner_test_score: float | None
    """The winner's own eval_summary.json test_score (beside sweep_summary.json's copy)."""


@dataclass(frozen=True)
class RungPoint:
    step: int
    score: float


@dataclass(frozen=True)
class RungSummary:
    """One rung: how many trials scored it, and what the scheduler recorded there."""

    step: int
    scored: int
    """Trials with a rung score at this step (sweep_summary.json, else metrics.jsonl)."""
    went_on: int
    cut: int
    last_cutoff: RungDecision | None
    """The last recorded decision at this rung that had a cutoff (None: none had one)."""


@dataclass(frozen=True)
class ComputePoint:
    trial_id: str
    status: str
    trial_steps: int
    chip_seconds: float
    score: float | None
    """This trial's own primary score (None: cut or failed)."""
    best_score: float | None


@dataclass(frozen=True)
class ParamPoint:
    trial_id: str
    value: object
    score: float
    last_rung_step: int | None
    """None: `score` is the primary score; else the trial's last rung score, at that step."""


@dataclass(frozen=True)
class CompileCacheTally:
    trials: int
    """Trials that recorded their compile cache use."""
    hits: int
    misses: int
    folders: list[str]

    @property
    def hit_rate(self) -> float | None:
        looked_up = self.hits + self.misses
        return self.hits / looked_up if looked_up else None


def compile_cache_tally(trials: Sequence[TrialEvidence]) -> CompileCacheTally | None:
    """The compile cache's hits and misses over the trials that recorded them; None when none did."""
    uses = [t.compile_cache for t in trials if t.compile_cache is not None]
    if not uses:
        return None
    return CompileCacheTally(
        trials=len(uses),
        hits=sum(u.hits for u in uses),
        misses=sum(u.misses for u in uses),
        folders=sorted({u.folder for u in uses}),
    )


def rung_points(trial: TrialEvidence) -> list[RungPoint]:
    """The rung scores as the scheduler saw them (sweep_summary.json), else from metrics.jsonl."""
    recorded = [(r.step, r.score) for r in trial.record.rung_scores] or [
        (line.step, line.rung_score) for line in trial.metrics if line.rung_score is not None
    ]
    return [RungPoint(step, score) for step, score in recorded]


def rung_summaries(
    rung_steps: Sequence[int], points: dict[str, list[RungPoint]], decisions: Sequence[RungDecision]
) -> list[RungSummary]:
    """Each planned rung, and any other step that holds a rung score or a decision, in step order."""
    steps = {*rung_steps, *(p.step for ps in points.values() for p in ps), *(d.step for d in decisions)}
    out = []
    for step in sorted(steps):
        here = [d for d in decisions if d.step == step]
        with_cutoff = [d for d in here if d.cutoff is not None]
        out.append(
            RungSummary(
                step=step,
                scored=sum(1 for ps in points.values() for p in ps if p.step == step),
                went_on=sum(1 for d in here if not d.cut),
                cut=sum(1 for d in here if d.cut),
                last_cutoff=with_cutoff[-1] if with_cutoff else None,
            )
        )
    return out


def compute_curve(trials: Sequence[TrialEvidence], mode: ObjectiveMode) -> list[ComputePoint]:
    """One point per trial that trained, in finish order: the compute of it and every trial
    finished before it, and the best primary score among them."""
    pick = max if mode == "max" else min
    ran = sorted((t for t in trials if t.metrics), key=lambda t: _finish_key(t.record))
    curve, steps, seconds, best = [], 0, 0.0, None
    for trial in ran:
        steps += trial.metrics[-1].step
        seconds += trial.chips * trial.metrics[-1].elapsed_s
        score = trial.record.primary_score
        if score is not None:
            best = score if best is None else pick(best, score)
        curve.append(ComputePoint(trial.record.trial_id, trial.record.status, steps, seconds, score, best))
    return curve


def param_points(
    trials: Sequence[TrialEvidence], points: dict[str, list[RungPoint]], path: str
) -> list[ParamPoint]:
    """Each trial that sampled `path` and has a score: its primary score, else its last rung score."""
    out = []
    for trial in trials:
        record = trial.record
        if path not in record.params:
            continue
        if record.primary_score is not None:
            out.append(ParamPoint(record.trial_id, record.params[path], record.primary_score, None))
        elif points[record.trial_id]:
            last = points[record.trial_id][-1]
            out.append(ParamPoint(record.trial_id, record.params[path], last.score, last.step))
    return out


def seeded_points(summary: SweepSummary, path: str) -> list[ParamPoint]:
    """The warm start's points that give `path`: earlier sweeps' trials told to the searcher, with
    their recomputed primary scores (no trials of this sweep)."""
    return [
        ParamPoint(
            f"{seeded.trial_id} of {record.evidence_uri}", seeded.params[path], seeded.primary_score, None
        )
        for record in summary.warm_start
        for seeded in record.seeded
        if path in seeded.params
    ]


def skipped_reasons(record: WarmStartRecord) -> Counter[str]:
    """How many of a source's trials were not seeded, by reason (the reason up to its first ':')."""
    return Counter(skipped.reason.split(":", 1)[0] for skipped in record.skipped)


def _finish_key(record: TrialRecord) -> tuple[bool, float]:
    finished = _epoch(record.finished_at)
    return (finished is None, finished or 0.0)


def _epoch(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def budget_line(summary: SweepSummary) -> str | None:
    """spec.budget in one sentence: what was spent of it, what is left, and which trials it cut;
    None without a budget."""
    spend = summary.budget
    if spend is None:
        return None
    if spend.limit is None:
        line = f"Budget: spent {spend.spent:.4g} {spend.unit} (no limit)"
    else:
        left = spend.left or 0.0
        line = f"Budget: spent {spend.spent:.4g} of {spend.limit:g} {spend.unit} ({left:.4g} left)"
    if spend.wall_seconds_limit is not None:
        line += f"; wall time {spend.wall_seconds_used:.0f} s of {spend.wall_seconds_limit} s"
    if spend.stopped_starting:
        line += f". It stopped starting trials: {spend.stopped_starting}"
    cut = ", ".join(spend.cut_trials) if spend.cut_trials else "none"
    return line + f". Trials it cut: {cut}."
