"""Search-quality benchmark: `python -m bench.search_quality` (seconds; a REPLAY, no training).

It replays a table of real learning curves (bench/data/learning_curves.json, recorded once from
real tiny-Gemma trials by `bench.record_curves`: loss, rung correctness and seconds at every 50
steps, final primary and test score, for every config of a grid) across seeds, as HPO research
does with tabular benchmarks, and compares four ways to spend a sweep of `--trials` trials
(`--parallel` at a time) on that grid:

- random: random search, every trial at full budget (no early stopping);
- asha-loss: random search + ASHA cutting on the training loss at each rung (the behaviour
  before issue 13: one minibatch's loss, lower is better);
- asha-rung: random search + ASHA cutting on the rung score (answer correctness on the rung
  slice), what a sweep does now;
- tpe-asha-rung: TPE (`sweep.searcher.ObjectiveSearch`, random startup trials as the plan sizes
  them) + ASHA on the rung score.

The rules are the project's own: ASHA is `tunesweep_evidence.rungs.RungLadder` (what the sweep's
scheduler decides with) on the rungs the sample's
earlyStopping gives (`search_plan.rung_steps`: gracePeriod 100, reductionFactor 3 -> steps 100,
300), and TPE is the Ray/Optuna searcher the driver runs, fed as the driver feeds it (rung scores
as intermediate values, a cut trial PRUNED, a finished one COMPLETE with its primary score). A
searcher picks grid points: random uniformly (with replacement, the same draws for the three
random methods at one seed), TPE over the grid's indices (ordinal dimensions).

Compute: a trial cut at rung step s costs s trial-steps and the recorded seconds to reach s; a
trial that finishes costs every step and its total seconds, final evaluation included. Seconds
are the recorded training seconds plus, for the rung methods only, the recorded seconds of the
rung evaluations at the method's rungs (random and ASHA-on-loss evaluate no rung slice). With
`--parallel` > 1 the trials run as a discrete-event simulation on those seconds: the ladder hears
the rung scores in the order they would arrive. "Best" is the best primary score (eval set) of the
trials finished so far, what promotion would pick; 0 before any trial has finished.

Section 7 replays the same table with a few other ASHA ladders (`--ladders`), all of them shown:
the table holds rung scores every 50 steps, so any ladder on those steps replays.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "learning_curves.json"
DEFAULT_HTML = ROOT / "runs" / "bench" / "search_quality.html"
SAMPLE = ROOT / "manifests" / "samples" / "sweep.yaml"
BUDGET_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)
GOAL_RATIO = 0.4
OTHER_LADDERS = ((100, 2), (150, 2), (200, 2), (300, 2))
"""Replayed besides the sample's ladder (gracePeriod 100, reductionFactor 3), for section 7."""


# --- the table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    step: int
    loss: float
    elapsed_s: float
    """From the trial's start; includes every rung evaluation recorded up to this step."""
    rung_score: float | None = None
    rung_eval_s: float = 0.0


@dataclass(frozen=True)
class Curve:
    key: str
    params: dict[str, Any]
    points: tuple[Point, ...]
    primary_score: float
    test_score: float | None
    final_eval_s: float
    """Seconds after the last step: eval set, test slice, evidence."""

    @property
    def max_steps(self) -> int:
        return self.points[-1].step

    def at(self, step: int) -> Point:
        for point in self.points:
            if point.step == step:
                return point
        raise KeyError(f"{self.key} has no record at step {step}")

    def train_s(self, step: int) -> float:
        """Seconds from the start to `step` without any rung evaluation."""
        return self.at(step).elapsed_s - sum(p.rung_eval_s for p in self.points if p.step <= step)

    def rung_eval_s(self, rungs: Sequence[int], upto: int) -> float:
        return sum(self.at(step).rung_eval_s for step in rungs if step <= upto)


@dataclass(frozen=True)
class Table:
    path: str
    header: dict[str, Any]
    grid: dict[str, list[Any]]
    curves: dict[tuple[int, ...], Curve]
    """Keyed by the index of each param's value in `grid`."""
    load_averages: tuple[float, ...] = ()
    """The machine's 1-minute load average before each recorded trial."""

    @classmethod
    def from_document(cls, document: dict[str, Any], path: str = "(in memory)") -> Table:
        grid = document["header"]["grid"]["params"]
        curves = {}
        for key, entry in document["configs"].items():
            points = tuple(
                Point(
                    step=int(p["step"]),
                    loss=float(p["loss"]) if p.get("loss") is not None else math.inf,
                    elapsed_s=float(p["elapsed_s"]),
                    rung_score=p.get("rung_score"),
                    rung_eval_s=float(p.get("rung_eval_s", 0.0)),
                )
                for p in entry["curve"]
            )
            index = tuple(values.index(entry["params"][name]) for name, values in grid.items())
            curves[index] = Curve(
                key=key,
                params=entry["params"],
                points=points,
                primary_score=float(entry["primary_score"]),
                test_score=entry.get("test_score"),
                final_eval_s=float(entry["final_eval_s"]),
            )
        loads = tuple(
            float(e["load_average_before"][0])
            for e in document["configs"].values()
            if "load_average_before" in e
        )
        return cls(path=path, header=document["header"], grid=grid, curves=curves, load_averages=loads)

    @classmethod
    def load(cls, path: Path) -> Table:
        try:
            shown = str(path.resolve().relative_to(ROOT))
        except ValueError:
            shown = str(path)
        return cls.from_document(json.loads(path.read_text()), shown)

    @property
    def full(self) -> bool:
        return len(self.curves) == math.prod(len(v) for v in self.grid.values())

    @property
    def loss_range(self) -> tuple[float, float]:
        losses = [p.loss for c in self.curves.values() for p in c.points if math.isfinite(p.loss)]
        low, high = min(losses), max(losses)
        return low, high if high > low else low + 1.0

    @property
    def report_every(self) -> int:
        steps = [p.step for p in next(iter(self.curves.values())).points]
        return steps[1] - steps[0] if len(steps) > 1 else steps[0]

    def nearest(self, index: tuple[int, ...]) -> Curve:
        """The curve at `index`, or (a partial table only) the recorded one nearest to it."""
        if index in self.curves:
            return self.curves[index]
        best = min(self.curves, key=lambda k: (sum(abs(a - b) for a, b in zip(k, index, strict=True)), k))
        return self.curves[best]


# --- methods ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    cut_on: str | None
    """None (no early stopping), "loss" or "rung_score"."""
    searcher: str
    """"random" or "tpe"."""


METHODS = (
    Method("random", "random search, full budget", None, "random"),
    Method("asha-loss", "ASHA on training loss (before)", "loss", "random"),
    Method("asha-rung", "ASHA on rung correctness", "rung_score", "random"),
    Method("tpe-asha-rung", "TPE + ASHA on rung correctness", "rung_score", "tpe"),
)


@dataclass(frozen=True)
class Setup:
    trials: int
    parallel: int
    rung_steps: tuple[int, ...]
    reduction_factor: int
    random_startup_trials: int


def sample_setup(trials: int, parallel: int, ladder: tuple[int, int] | None = None) -> Setup:
    """The rungs and TPE's startup trials as the project plans them for the sample sweep
    (manifests/samples/sweep.yaml) with `trials` trials; `ladder`: another (gracePeriod,
    reductionFactor) than the sample's."""
    from tunesweep_evidence.search_plan import search_plan
    from tunesweep_evidence.spec import TuningSweep

    document = yaml.safe_load(SAMPLE.read_text())
    document["spec"]["algorithm"] = {"name": "tpe", "seed": 0}
    document["spec"]["trials"].update(count=trials, parallel=parallel)
    if ladder is not None:
        document["spec"]["earlyStopping"].update(gracePeriod=ladder[0], reductionFactor=ladder[1])
    spec = TuningSweep.model_validate(document).spec
    plan = search_plan(spec)
    assert plan.random_startup_trials is not None
    return Setup(
        trials=trials,
        parallel=parallel,
        rung_steps=tuple(plan.rung_steps),
        reduction_factor=spec.early_stopping.reduction_factor,
        random_startup_trials=plan.random_startup_trials,
    )


class RandomPicker:
    def __init__(self, table: Table, seed: int) -> None:
        self._table = table
        self._rng = np.random.default_rng(seed)
        self._keys = sorted(table.curves)

    def suggest(self, trial_id: str) -> Curve:
        return self._table.curves[self._keys[int(self._rng.integers(len(self._keys)))]]

    def rung(self, trial_id: str, step: int, score: float) -> None:
        pass

    def done(self, trial_id: str, primary_score: float | None) -> None:
        pass


class TpePicker:
    """The driver's TPE searcher over the grid's indices, fed as the driver feeds it."""

    def __init__(self, table: Table, seed: int, startup: int) -> None:
        from ray import tune
        from tunesweep_trainer.sweep.searcher import ObjectiveSearch

        self._table = table
        self._names = list(table.grid)
        self._search = ObjectiveSearch(seed=seed, random_startup_trials=startup)
        self._search.set_search_properties(
            None, None, {f"i{n}": tune.randint(0, len(v)) for n, v in enumerate(table.grid.values())}
        )

    def suggest(self, trial_id: str) -> Curve:
        config = self._search.suggest(trial_id)
        assert config is not None
        return self._table.nearest(tuple(int(config[f"i{n}"]) for n in range(len(self._names))))

    def rung(self, trial_id: str, step: int, score: float) -> None:
        self._search.on_trial_result(trial_id, {"step": step, "rung_score": score})

    def done(self, trial_id: str, primary_score: float | None) -> None:
        result = {"primary_score": primary_score if primary_score is not None else math.nan}
        self._search.on_trial_complete(trial_id, result)


# --- one replayed sweep ----------------------------------------------------------------------------


@dataclass
class TrialRun:
    trial_id: str
    curve: Curve
    start_s: float
    cost: list[tuple[int, float]]
    """(steps done, seconds since start) up to where the trial stopped."""
    cut_at: int | None = None
    primary_score: float | None = None

    @property
    def steps(self) -> int:
        return self.cost[-1][0]

    @property
    def seconds(self) -> float:
        return self.cost[-1][1]

    @property
    def end_s(self) -> float:
        return self.start_s + self.seconds

    def steps_by(self, t: float) -> float:
        """Trial-steps done by sweep time `t` (linear between recorded points)."""
        local = t - self.start_s
        if local <= 0:
            return 0.0
        previous = (0, 0.0)
        for steps, seconds in self.cost:
            if local < seconds:
                (s0, t0), (s1, t1) = previous, (steps, seconds)
                return s0 + (s1 - s0) * (local - t0) / (t1 - t0) if t1 > t0 else float(s0)
            previous = (steps, seconds)
        return float(self.steps)

    def seconds_by(self, t: float) -> float:
        return min(max(t - self.start_s, 0.0), self.seconds)


def seconds_at(curve: Curve, method: Method, rungs: Sequence[int], step: int) -> float:
    """Seconds from the trial's start to `step` for `method`: training, plus the method's rung
    evaluations (rung methods only)."""
    evals = curve.rung_eval_s(rungs, step) if method.cut_on == "rung_score" else 0.0
    return curve.train_s(step) + evals


def cost_points(
    curve: Curve, method: Method, rungs: Sequence[int], stop: int | None
) -> list[tuple[int, float]]:
    """(steps, seconds) at each recorded step up to `stop` (a rung where the trial was cut), or to
    the end, final evaluation included."""
    last = stop if stop is not None else curve.max_steps
    points = [(p.step, seconds_at(curve, method, rungs, p.step)) for p in curve.points if p.step <= last]
    if stop is None:
        points.append((curve.max_steps, points[-1][1] + curve.final_eval_s))
    return points


@dataclass
class SweepReplay:
    method: Method
    seed: int
    trials: list[TrialRun] = field(default_factory=list)

    @cached_property
    def progress(self) -> list[tuple[float, float, float, float | None]]:
        """(trial-steps, seconds, best primary, its test score) each time a trial finishes or is cut,
        in time order: compute spent by all trials so far, running ones included."""
        rows = []
        best: tuple[float, float | None] = (0.0, None)
        for trial in sorted(self.trials, key=lambda tr: (tr.end_s, tr.trial_id)):
            t = trial.end_s
            if trial.primary_score is not None and trial.primary_score > best[0]:
                best = (trial.primary_score, trial.curve.test_score)
            steps = sum(tr.steps_by(t) for tr in self.trials)
            seconds = sum(tr.seconds_by(t) for tr in self.trials)
            rows.append((steps, seconds, best[0], best[1]))
        return rows

    def best_within(self, budget: float, unit: int) -> float:
        """The best primary score reached once `budget` compute (unit 0: trial-steps, 1: seconds)
        had been spent at most."""
        best = 0.0
        for row in self.progress:
            if (row[1] if unit else row[0]) <= budget + 1e-9:
                best = max(best, row[2])
        return best

    def compute_to_reach(self, target: float) -> tuple[float, float] | None:
        for steps, seconds, best, _ in self.progress:
            if best >= target - 1e-12:
                return steps, seconds
        return None

    @property
    def best(self) -> float:
        return self.progress[-1][2]

    @property
    def winner_test(self) -> float | None:
        return self.progress[-1][3]

    @property
    def total(self) -> tuple[float, float]:
        return float(sum(t.steps for t in self.trials)), sum(t.seconds for t in self.trials)


Picker = RandomPicker | TpePicker


def replay(table: Table, method: Method, seed: int, setup: Setup) -> SweepReplay:
    """One sweep of `setup.trials` trials of `method` on the table, deterministic per seed."""
    from tunesweep_evidence.rungs import RungLadder

    picker: Picker = (
        TpePicker(table, seed, setup.random_startup_trials)
        if method.searcher == "tpe"
        else RandomPicker(table, seed)
    )
    rungs = list(setup.rung_steps) if method.cut_on else []
    ladder = RungLadder(rungs, setup.reduction_factor) if method.cut_on else None
    sweep = SweepReplay(method, seed)
    low, high = table.loss_range
    # The ladder keeps the higher score, in 0..1: the loss enters as (high - loss) / (high - low), a
    # positive affine map of -loss over the table's losses, so each decision is the one on -loss.

    def loss_score(loss: float) -> float:
        return (high - loss) / (high - low) if math.isfinite(loss) else math.nan

    events: list[tuple[float, int, int, int | None]] = []  # (time, order, trial index, rung or None)
    order = 0

    def push(trial: TrialRun, index: int, after: int) -> None:
        nonlocal order
        upcoming = [r for r in rungs if after < r < trial.curve.max_steps]
        if upcoming:
            step: int | None = upcoming[0]
            at = trial.start_s + seconds_at(trial.curve, method, rungs, upcoming[0])
        else:
            step = None
            trial.cost = cost_points(trial.curve, method, rungs, None)
            trial.primary_score = trial.curve.primary_score
            at = trial.end_s
        heapq.heappush(events, (at, order, index, step))
        order += 1

    def start(now: float) -> None:
        trial_id = f"t{len(sweep.trials):03d}"
        curve = picker.suggest(trial_id)
        trial = TrialRun(trial_id, curve, now, [(0, 0.0)])
        sweep.trials.append(trial)
        push(trial, len(sweep.trials) - 1, 0)

    for _ in range(min(setup.parallel, setup.trials)):
        start(0.0)
    while events:
        now, _, index, step = heapq.heappop(events)
        trial = sweep.trials[index]
        if step is not None:
            assert ladder is not None
            point = trial.curve.at(step)
            if method.cut_on == "loss":
                score = loss_score(point.loss)
            else:
                score = point.rung_score if point.rung_score is not None else math.nan
                picker.rung(trial.trial_id, step, score)
            decision = ladder.record(trial.trial_id, step, score)
            if decision is None or not decision.cut:
                push(trial, index, step)
                continue
            trial.cut_at = step
            trial.cost = cost_points(trial.curve, method, rungs, step)
            picker.done(trial.trial_id, None)
        else:
            picker.done(trial.trial_id, trial.primary_score)
        if len(sweep.trials) < setup.trials:
            start(now)
    return sweep


# --- the report ------------------------------------------------------------------------------------


def mean_sd(values: Sequence[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    q = np.percentile(values, [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])


def rung_cost(table: Table, rungs: Sequence[int]) -> list[str]:
    curves = list(table.curves.values())
    every = [p.rung_eval_s for c in curves for p in c.points if p.rung_score is not None]
    train = [c.train_s(c.max_steps) for c in curves]
    sample = [c.rung_eval_s(rungs, c.max_steps) for c in curves]
    recorded = [sum(p.rung_eval_s for p in c.points) for c in curves]
    rung_size = table.header["grid"]["base_config"]["data"].get("rung_size")
    n_rungs = len(every) // len(curves)
    warmups = [w for session in table.header.get("sessions", []) for w in session.get("warmup", [])]
    lines = [
        f"   cold compile (fresh JAX cache): a {w['max_steps']}-step warm-up trial of batch "
        f"{w['per_device_batch_size']} took {w['total_s']:.1f} s (first report at "
        f"{w['first_report_s']:.1f} s); the grid's trials then ran with the cache warm"
        for w in warmups
    ]
    return [
        *lines,
        f"   one rung evaluation ({rung_size} examples): {statistics.fmean(every):.2f} s mean "
        f"(min {min(every):.2f}, max {max(every):.2f}; {len(every)} measured)",
        f"   per finished trial at the sample's rungs {list(rungs)}: {statistics.fmean(sample):.2f} s "
        f"of rung evaluation vs {statistics.fmean(train):.1f} s of training "
        f"({100 * statistics.fmean(sample) / statistics.fmean(train):.1f}%)",
        f"   at all {n_rungs} recorded rungs (every {table.report_every} steps): "
        f"{statistics.fmean(recorded):.1f} s "
        f"({100 * statistics.fmean(recorded) / statistics.fmean(train):.1f}% of training)",
        f"   final evaluation (eval set + test slice + evidence): "
        f"{statistics.fmean(c.final_eval_s for c in curves):.1f} s per finished trial",
    ]


def run_all(table: Table, setup: Setup, seeds: Sequence[int]) -> dict[str, list[SweepReplay]]:
    return {m.name: [replay(table, m, seed, setup) for seed in seeds] for m in METHODS}


def report(
    table: Table, setup: Setup, results: dict[str, list[SweepReplay]], out: Callable[[str], None]
) -> dict[str, Any]:
    """Print the tables; returns the verdicts."""
    seeds = [r.seed for r in results["random"]]
    n = len(seeds)
    header = table.header
    sessions = header.get("sessions", [])
    first = sessions[0] if sessions else {}
    out("SEARCH QUALITY -- A REPLAY of recorded real learning curves, not new training runs")
    out(f"   table: {table.path} ({len(table.curves)} configs{'' if table.full else ', PARTIAL grid'})")
    out(f"   recorded by: {header.get('command')}")
    if first:
        last = sessions[-1]
        machine = first.get("machine", {})
        out(
            f"   recorded {first.get('started_at')} .. {last.get('finished_at', '?')} in {len(sessions)} "
            f"session(s) on {machine.get('cpu_count')} CPU cores ({machine.get('cpu')}), "
            f"jax {first.get('versions', {}).get('jax')}"
        )
    if table.load_averages:
        out(
            "   seconds are wall-clock on a machine shared with other work: 1-minute load average "
            f"{min(table.load_averages):.1f} .. {max(table.load_averages):.1f} before the trials "
            "(trial-steps are exact)"
        )
    grid = "  x  ".join(f"{name.split('.')[-1]} {values}" for name, values in table.grid.items())
    out(f"   grid: {grid}")
    out(
        f"   sweep replayed: {setup.trials} trials, {setup.parallel} in parallel, {n} seeds "
        f"({seeds[0]}..{seeds[-1]}); ASHA rungs at steps {list(setup.rung_steps)}, reduction factor "
        f"{setup.reduction_factor}; TPE random startup trials {setup.random_startup_trials}"
    )
    scores = sorted((c.primary_score for c in table.curves.values()), reverse=True)
    out(
        f"   the table's primary scores: best {scores[0]:.2f}, median {statistics.median(scores):.2f}, "
        f"{sum(s >= scores[0] for s in scores)} config(s) at the best"
    )

    out("")
    out(f"1. final best primary score (mean ± sd over {n} seeds; quartiles) and compute spent (means)")
    out(
        f"   {'method':33} {'best':>13}  {'q25 / med / q75':>17}  {'trial-steps':>11} {'seconds':>8}  "
        f"{'cut':>4}  {'winner test':>11}"
    )
    for method in METHODS:
        runs = results[method.name]
        best = [r.best for r in runs]
        q = quartiles(best)
        steps = statistics.fmean(r.total[0] for r in runs)
        secs = statistics.fmean(r.total[1] for r in runs)
        cut = statistics.fmean(sum(t.cut_at is not None for t in r.trials) for r in runs)
        tests = [r.winner_test for r in runs if r.winner_test is not None]
        test = f"{statistics.fmean(tests):.3f}" if tests else "-"
        out(
            f"   {method.label:33} {mean_sd(best):>13}  {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}  "
            f"{steps:11.0f} {secs:8.1f}  {cut:4.1f}  {test:>11}"
        )

    random_total = [r.total for r in results["random"]]
    mean_random = (statistics.fmean(t[0] for t in random_total), statistics.fmean(t[1] for t in random_total))
    for unit, unit_name, fmt in ((0, "trial-steps", "{:.0f}"), (1, "seconds", "{:.0f} s")):
        out("")
        out(
            f"{2 + unit}. best primary score reached within a compute budget, in {unit_name} "
            f"(mean ± sd over seeds; budgets as fractions of random search's mean total "
            f"{fmt.format(mean_random[unit])})"
        )
        budgets = [f * mean_random[unit] for f in BUDGET_FRACTIONS]
        out(
            "   "
            + f"{'method':33}"
            + "".join(
                f"{f'{frac:.1f}x=' + fmt.format(b):>15}"
                for frac, b in zip(BUDGET_FRACTIONS, budgets, strict=True)
            )
        )
        for method in METHODS:
            cells = [mean_sd([r.best_within(b, unit) for r in results[method.name]]) for b in budgets]
            out("   " + f"{method.label:33}" + "".join(f"{cell:>15}" for cell in cells))

    out("")
    out(
        "4. compute to reach random search's final best (per seed: the best its full-budget sweep "
        "found), against random search's full-budget compute"
    )
    verdicts: dict[str, Any] = {}
    out(
        f"   {'method':33} {'reached':>8} {'trial-steps':>12} {'ratio':>6} {'seconds':>9} {'ratio':>6}  "
        f"{'per-seed ratio (steps) med [max]':>32}"
    )
    for method in METHODS:
        reached, ratios = [], []
        for run, rand in zip(results[method.name], results["random"], strict=True):
            found = run.compute_to_reach(rand.best)
            if found is not None:
                reached.append(found)
                ratios.append((found[0] / rand.total[0], found[1] / rand.total[1]))
            else:
                ratios.append((math.inf, math.inf))
        k = len(reached)
        if k:
            steps = statistics.fmean(x[0] for x in reached)
            secs = statistics.fmean(x[1] for x in reached)
            step_ratio, sec_ratio = steps / mean_random[0], secs / mean_random[1]
            per_seed = [r[0] for r in ratios]
            med, worst = float(np.median(per_seed)), max(per_seed)
            out(
                f"   {method.label:33} {f'{k}/{n}':>8} {steps:12.0f} {step_ratio:5.2f}x "
                f"{secs:9.1f} {sec_ratio:5.2f}x"
                f"  {med:>22.2f} [{'never' if math.isinf(worst) else f'{worst:.2f}'}]"
            )
        else:
            step_ratio = sec_ratio = math.inf
            out(f"   {method.label:33} {f'0/{n}':>8} {'never':>12}")
        verdicts[method.name] = {"reached": k, "of": n, "steps_ratio": step_ratio, "seconds_ratio": sec_ratio}
    out(
        "   (means over the seeds where the target was reached; ratio = that mean / random search's mean "
        "full-budget compute)"
    )

    out("")
    out(
        "5. at equal compute against ASHA on training loss: mean difference of best score "
        "(wins/ties/losses over seeds)"
    )
    loss_runs = results["asha-loss"]
    loss_total = (
        statistics.fmean(r.total[0] for r in loss_runs),
        statistics.fmean(r.total[1] for r in loss_runs),
    )
    checks = [(0, f * mean_random[0], f"{f:.1f}x random's steps") for f in BUDGET_FRACTIONS if f <= 0.6]
    checks.append((0, loss_total[0], "ASHA-on-loss's own total steps"))
    checks.append((1, loss_total[1], "ASHA-on-loss's own total seconds"))
    for method in METHODS:
        if method.cut_on != "rung_score":
            continue
        parts, beaten = [], []
        for unit, budget, name in checks:
            mine = [r.best_within(budget, unit) for r in results[method.name]]
            theirs = [r.best_within(budget, unit) for r in loss_runs]
            diff = statistics.fmean(mine) - statistics.fmean(theirs)
            wins = sum(a > b for a, b in zip(mine, theirs, strict=True))
            ties = sum(a == b for a, b in zip(mine, theirs, strict=True))
            parts.append(f"{name}: {diff:+.3f} ({wins}/{ties}/{n - wins - ties})")
            beaten.append(diff)
        out(f"   {method.label}:")
        for part in parts:
            out(f"      {part}")
        verdicts[method.name]["vs_loss"] = beaten

    out("")
    out("6. rung evaluation cost, measured in the recording")
    for line in rung_cost(table, setup.rung_steps):
        out(line)

    out("")
    out("goals (issue 13):")
    for name in ("asha-rung", "tpe-asha-rung"):
        v = verdicts[name]
        label = next(m.label for m in METHODS if m.name == name)
        everywhere = v["reached"] == n
        by_steps = everywhere and v["steps_ratio"] <= GOAL_RATIO
        by_seconds = everywhere and v["seconds_ratio"] <= GOAL_RATIO
        met = by_steps and by_seconds
        if everywhere:
            detail = (
                f"trial-steps {v['steps_ratio']:.2f}x {'met' if by_steps else 'not met'}, "
                f"seconds {v['seconds_ratio']:.2f}x {'met' if by_seconds else 'not met'}"
            )
        else:
            detail = (
                f"{n - v['reached']}/{n} seeds never reach it; over the {v['reached']} that do: "
                f"trial-steps {v['steps_ratio']:.2f}x, seconds {v['seconds_ratio']:.2f}x"
            )
        out(
            f"   {label}: reach random's final best with <= {GOAL_RATIO}x its compute: "
            f"{'MET' if met else 'NOT MET'} ({detail})"
        )
        diffs = v["vs_loss"]
        beat = all(d >= 0 for d in diffs) and any(d > 0 for d in diffs)  # never worse, better somewhere
        out(
            f"   {label}: beat ASHA-on-loss at equal compute: {'MET' if beat else 'NOT MET'} "
            f"(mean best difference {min(diffs):+.3f} .. {max(diffs):+.3f} at the budgets of table 5)"
        )
        v["met_ratio"], v["beats_loss"] = met, beat
    return verdicts


def ladder_summary(
    table: Table, setup: Setup, results: dict[str, list[SweepReplay]], name: str, out: Callable[[str], None]
) -> None:
    """One block per ladder: per method the final best, the compute spent, the compute to reach
    random search's final best (ratio to random's full budget) and the mean difference of best score
    against ASHA on loss over the budgets 0.1x .. 0.6x of random's steps and ASHA-on-loss's total."""
    rand = results["random"]
    mean_random = statistics.fmean(r.total[0] for r in rand)
    loss_runs = results["asha-loss"]
    budgets = [f * mean_random for f in BUDGET_FRACTIONS if f <= 0.6]
    budgets.append(statistics.fmean(r.total[0] for r in loss_runs))
    out(f"   ladder {name} -> rungs {list(setup.rung_steps)}")
    for method in METHODS:
        runs = results[method.name]
        found = [run.compute_to_reach(r.best) for run, r in zip(runs, rand, strict=True)]
        reached = [f[0] for f in found if f is not None]
        ratio = f"{statistics.fmean(reached) / mean_random:.2f}x" if reached else "never"
        line = (
            f"      {method.label:33} best {mean_sd([r.best for r in runs])}  "
            f"steps {statistics.fmean(r.total[0] for r in runs):5.0f}  "
            f"to random's best {ratio} ({len(reached)}/{len(runs)})"
        )
        if method.cut_on == "rung_score":
            diffs = [
                statistics.fmean(r.best_within(b, 0) for r in runs)
                - statistics.fmean(r.best_within(b, 0) for r in loss_runs)
                for b in budgets
            ]
            line += f"  vs ASHA-on-loss {min(diffs):+.3f} .. {max(diffs):+.3f}"
        out(line)


def write_html(results: dict[str, list[SweepReplay]], table: Table, setup: Setup, path: Path) -> None:
    """Best score against compute (median and quartile band over seeds), offline HTML."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    colors = ["#636efa", "#ef553b", "#00cc96", "#ab63fa"]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("against trial-steps", "against seconds"))
    for unit in (0, 1):
        top = max(r.total[unit] for runs in results.values() for r in runs)
        xs = np.linspace(0, top, 120)
        for method, color in zip(METHODS, colors, strict=True):
            values = np.array([[r.best_within(x, unit) for x in xs] for r in results[method.name]])
            q25, q50, q75 = np.percentile(values, [25, 50, 75], axis=0)
            group = method.name
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=q75,
                    line={"width": 0, "shape": "hv"},
                    showlegend=False,
                    legendgroup=group,
                    hoverinfo="skip",
                ),
                row=1,
                col=unit + 1,
            )
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=q25,
                    fill="tonexty",
                    line={"width": 0, "shape": "hv"},
                    fillcolor=color + "33",
                    showlegend=False,
                    legendgroup=group,
                    hoverinfo="skip",
                ),
                row=1,
                col=unit + 1,
            )
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=q50,
                    name=method.label,
                    line={"color": color, "shape": "hv"},
                    legendgroup=group,
                    showlegend=unit == 0,
                ),
                row=1,
                col=unit + 1,
            )
    n = len(results["random"])
    figure.update_layout(
        title=(
            f"Best primary score vs compute: REPLAY of {table.path} ({len(table.curves)} recorded real "
            f"trials); {setup.trials} trials, {setup.parallel} parallel; median and quartiles over {n} seeds"
        ),
        yaxis_title="best primary score (eval set)",
    )
    figure.update_xaxes(title_text="trial-steps spent (all trials)", row=1, col=1)
    figure.update_xaxes(title_text="trial seconds spent (recorded, all trials)", row=1, col=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs=True, full_html=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--html", type=Path, default=DEFAULT_HTML, help="the plot (self-contained HTML)")
    parser.add_argument("--no-html", action="store_true")
    parser.add_argument(
        "--ladders",
        default=",".join(f"{g}:{r}" for g, r in OTHER_LADDERS),
        help="other ASHA ladders (gracePeriod:reductionFactor, comma-separated) for the sensitivity table",
    )
    args = parser.parse_args(argv)
    if not args.table.exists():
        sys.exit(
            f"{args.table} does not exist: record it with "
            "`nice -n 10 .venv/bin/python -m bench.record_curves`"
        )
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = Table.load(args.table)
    setup = sample_setup(args.trials, args.parallel)
    results = run_all(table, setup, range(args.seeds))
    report(table, setup, results, print)
    ladders = [tuple(int(x) for x in item.split(":")) for item in args.ladders.split(",") if item]
    if ladders:
        print("")
        print(
            f"7. the same replay with other ASHA ladders (gracePeriod:reductionFactor -> rung steps); "
            f"every ladder tried is shown, {args.seeds} seeds each"
        )
        for ladder in ladders:
            other = sample_setup(args.trials, args.parallel, (ladder[0], ladder[1]))
            ladder_summary(
                table, other, run_all(table, other, range(args.seeds)), f"{ladder[0]}:{ladder[1]}", print
            )
    if not args.no_html:
        write_html(results, table, setup, args.html)
        print(f"\nplot (offline HTML): {args.html}")


if __name__ == "__main__":
    main()
