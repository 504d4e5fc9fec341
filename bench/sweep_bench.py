"""Sweep benchmark: `python -m bench.sweep_bench` (about 6 minutes on 2 CPU cores).

Real sweeps through the driver (`driver.drive`) on a local Ray sized to this machine:
1. Trial start overhead: sweeps of mock trials that do almost no work, so a trial's slot time is
   nearly all overhead (placement, process start or reuse, imports, evidence writes, Tune's
   bookkeeping): with trial processes reused (the default, ASHA included) and with a fresh process
   per trial (`tuner.REUSE_TRIAL_PROCESSES` off).
2. The shared JAX compilation cache: the same two-trial tiny-preset sweep with an empty cache
   (cold) and again with the cache the first run filled (warm): time to the first report and
   trial time.
3. ASHA against full-budget random search: the same seeded random sweep of the tiny preset with
   and without ASHA: training steps and trial time spent, and the best score each found.
   Sweep efficiency (share of the trial slots' time spent in run_trial: training, evaluation,
   evidence) and wall time come from these two real sweeps, and the stricter step efficiency: the
   share in training and evaluation steps alone. Training: the time between a trial's reports, less
   the rung evaluations in them, and the steps up to its first report (which also holds the trial's
   start and compilation) at the trial's steady step time (the sweep's, for a trial cut at its first
   report); evaluation: the rung evaluations and the final one (the trial's end less its last report). Slot
   time (the trial slots the sweep holds: parallel x wall) is then split into steps, the rest of
   run_trial (start, compilation, evidence) and outside run_trial (process start or reuse, Tune's
   scheduling, slots left idle).

Per-trial times are the trial's own clock (`elapsed_s` of its last Tune result, from run_trial's
start); a sweep's wall time is the driver's `drive` call (the Ray start is reported apart).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesweep_evidence import layout
from tunesweep_evidence.spec import TuningSweep
from tunesweep_trainer.sweep import plan as plans
from tunesweep_trainer.sweep import tuner
from tunesweep_trainer.sweep.driver import drive
from tunesweep_trainer.sweep.ray_runtime import placement_for, ray_session

TINY: dict[str, Any] = {
    "model": {"name": "tiny", "max_length": 64},
    "training": {
        "learning_rate": 3.0e-3,
        "per_device_batch_size": 32,
        "warmup_steps": 20,
        "max_steps": 400,
        "seed": 0,
        "report_every_steps": 50,
    },
    "data": {
        "train": "builtin:arithmetic",
        "eval": "builtin:arithmetic",
        "eval_size": 50,
        "test_size": 50,
        "rung_size": 32,
    },
}


@dataclass(frozen=True)
class TrialTimes:
    trial_id: str
    status: str
    score: float | None
    elapsed_s: float
    """run_trial's own time: backend start, training, evaluation, evidence."""
    first_report_s: float | None
    steps: int
    first_steps: int
    """Steps up to the first report."""
    intervals: list[tuple[int, float]]
    """(steps, seconds training) between consecutive reports, the rung evaluations left out."""
    eval_s: float
    """In rung evaluations and the final evaluation."""


@dataclass(frozen=True)
class SweepRun:
    ray_start_s: float
    wall_s: float
    parallel: int
    trials: list[TrialTimes]

    @property
    def busy_s(self) -> float:
        return sum(t.elapsed_s for t in self.trials)

    @property
    def efficiency(self) -> float:
        return self.busy_s / self.slot_s

    @property
    def slot_s(self) -> float:
        return self.parallel * self.wall_s

    @property
    def step_s(self) -> float:
        """In training and evaluation steps."""
        sweep_steady = _steady_step_s([i for t in self.trials for i in t.intervals])
        return sum(
            sum(s for _, s in t.intervals)
            + t.first_steps * (_steady_step_s(t.intervals) or sweep_steady)
            + t.eval_s
            for t in self.trials
        )

    @property
    def step_efficiency(self) -> float:
        return self.step_s / self.slot_s

    @property
    def overhead_per_trial_s(self) -> float:
        return (self.slot_s - self.busy_s) / len(self.trials)

    @property
    def best(self) -> float | None:
        scores = [t.score for t in self.trials if t.score is not None]
        return max(scores) if scores else None

    @property
    def steps(self) -> int:
        return sum(t.steps for t in self.trials)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=6, help="trials of the ASHA / full-budget sweeps")
    parser.add_argument("--max-steps", type=int, default=TINY["training"]["max_steps"])
    parser.add_argument("--overhead-trials", type=int, default=8, help="trials of the start-overhead sweeps")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

    mock = {
        "model": {"name": "tiny"},
        "training": {"max_steps": 2, "report_every_steps": 1},
        "data": {"eval_size": 1, "test_size": 1, "rung_size": 1},
    }
    reused = run_sweep(work, "overhead-reused", mock_sweep(mock, args.overhead_trials))
    tuner.REUSE_TRIAL_PROCESSES = False
    try:
        fresh = run_sweep(work, "overhead-fresh", mock_sweep(mock, args.overhead_trials))
    finally:
        tuner.REUSE_TRIAL_PROCESSES = True
    cache = work / "jax-cache"
    small = tiny_sweep(2, max_steps=50, report_every=5, seed=1)
    cold = run_sweep(work, "cache-cold", small, compile_cache=cache)
    warm = run_sweep(work, "cache-warm", small, compile_cache=cache)
    full = run_sweep(work, "full", tiny_sweep(args.trials, max_steps=args.max_steps), compile_cache=cache)
    asha = run_sweep(
        work,
        "asha",
        tiny_sweep(
            args.trials,
            max_steps=args.max_steps,
            earlyStopping={"name": "asha", "gracePeriod": 50, "reductionFactor": 2},
        ),
        compile_cache=cache,
    )

    print(f"sweep bench on {os.cpu_count()} CPU cores; evidence under {work}")
    print("1. trial start overhead (mock trials doing ~no work): slot time per trial")
    for label, run in (("trial processes reused", reused), ("fresh process per trial", fresh)):
        print(
            f"   {label:28} {run.overhead_per_trial_s:6.2f} s"
            f"  ({len(run.trials)} trials, wall {run.wall_s:.1f} s)"
        )
    print(f"   {'ratio fresh / reused':28} {fresh.overhead_per_trial_s / reused.overhead_per_trial_s:6.2f}")
    print(f"   {'local Ray start (per sweep)':28} {reused.ray_start_s:6.2f} s")
    print("2. shared JAX compilation cache: tiny preset, 2 trials of 50 steps in parallel (means)")
    for label, cold_s, warm_s in (
        ("time to first report (step 5)", _mean(cold, "first_report_s"), _mean(warm, "first_report_s")),
        ("trial time (train + evaluate)", _mean(cold, "elapsed_s"), _mean(warm, "elapsed_s")),
    ):
        print(f"   {label:30} cold {cold_s:6.2f} s  warm {warm_s:6.2f} s  ratio {cold_s / warm_s:5.2f}")
    print(
        f"3. tiny preset: {args.trials} seeded random trials of up to {args.max_steps} steps, 2 in parallel"
    )
    for label, run in (("full budget", full), ("ASHA", asha)):
        print("\n".join(efficiency_lines(label, run)))
    same = "the same best score" if asha.best == full.best else "a different best score"
    print(
        f"   ASHA: {1 - asha.steps / full.steps:.0%} fewer training steps, "
        f"{1 - asha.busy_s / full.busy_s:.0%} less trial time, "
        f"{1 - asha.wall_s / full.wall_s:.0%} less wall time, {same} "
        f"({_score(asha.best)} vs {_score(full.best)})"
    )
    summary = {
        name: _as_json(run)
        for name, run in [
            ("reused", reused),
            ("fresh", fresh),
            ("cold", cold),
            ("warm", warm),
            ("full", full),
            ("asha", asha),
        ]
    }
    (work / "sweep_bench.json").write_text(json.dumps(summary, indent=2))


def efficiency_lines(label: str, run: SweepRun) -> list[str]:
    """What a sweep cost and found, and where its slot time went."""
    stopped = sum(t.status == "early_stopped" for t in run.trials)
    return [
        f"   {label:12} wall {run.wall_s:6.1f} s  steps {run.steps:5d}  trial time {run.busy_s:6.1f} s  "
        f"best {_score(run.best)}  early-stopped {stopped}",
        f"   {'':12} sweep efficiency {run.efficiency:5.1%} of slot time in run_trial; "
        f"the rest {run.overhead_per_trial_s:.2f} s/trial",
        f"   {'':12} step efficiency  {run.step_efficiency:5.1%} of slot time in training and eval steps;"
        f" slot time {run.slot_s:.1f} s = steps {run.step_s:.1f} + rest of run_trial "
        f"{run.busy_s - run.step_s:.1f} + outside run_trial {run.slot_s - run.busy_s:.1f}",
    ]


def mock_sweep(base: dict[str, Any], count: int, **spec: Any) -> dict[str, Any]:
    return manifest(
        {"backend": "mock", "baseConfig": base},
        {"training.learning_rate": {"loguniform": [1.0e-3, 1.0e-2]}},
        count,
        **spec,
    )


def tiny_sweep(
    count: int, *, max_steps: int, report_every: int = 50, seed: int = 0, **spec: Any
) -> dict[str, Any]:
    base = json.loads(json.dumps(TINY))
    base["training"] |= {"max_steps": max_steps, "report_every_steps": report_every}
    return manifest(
        {"backend": "flax-lm", "baseConfig": base},
        {"training.learning_rate": {"loguniform": [1.0e-3, 1.0e-2]}},
        count,
        algorithm={"name": "random", "seed": seed},
        **spec,
    )


def manifest(trainer: dict[str, Any], space: dict[str, Any], count: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tunesweep.dev/v1alpha1",
        "kind": "TuningSweep",
        "metadata": {"name": "bench"},
        "spec": {
            "mode": "production",
            "trainer": trainer,
            "searchSpace": space,
            "trials": {"count": count, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 900},
            "evidence": {"uri": "file:///unused"},
        }
        | spec,
    }


def run_sweep(
    work: Path, name: str, sweep_manifest: dict[str, Any], compile_cache: Path | None = None
) -> SweepRun:
    out = work / name
    sweep = TuningSweep.model_validate(sweep_manifest)
    plan = plans.freeze(sweep, uid=str(uuid.uuid4()), namespace="bench", evidence_uri=str(out))
    plans.write(plan)
    if compile_cache is not None:
        os.environ["TUNESWEEP_COMPILE_CACHE"] = str(compile_cache)  # trial processes inherit it from Ray
    started = time.perf_counter()
    with ray_session(None) as session:
        driving = time.perf_counter()
        result = drive(plan, placement_for(session, plans.spec_of(plan)))
        wall = time.perf_counter() - driving
    if result.summary is None or result.exit_code != 0:
        raise SystemExit(f"bench sweep {name} did not succeed: see {out}")
    trials = [
        _trial_times(out, record.trial_id, record.status, record.primary_score)
        for record in result.summary.trials
    ]
    return SweepRun(
        ray_start_s=driving - started, wall_s=wall, parallel=sweep.spec.trials.parallel, trials=trials
    )


def _trial_times(out: Path, trial_id: str, status: str, score: float | None) -> TrialTimes:
    results = [
        json.loads(line)
        for line in (out / layout.RAY_STATE / trial_id / "result.json").read_text().splitlines()
    ]
    metrics = [
        json.loads(line) for line in (out / "trials" / trial_id / layout.METRICS).read_text().splitlines()
    ]
    return trial_times(trial_id, status, score, float(results[-1]["elapsed_s"]), metrics)


def trial_times(
    trial_id: str, status: str, score: float | None, elapsed_s: float, metrics: list[dict[str, Any]]
) -> TrialTimes:
    """A trial's times from its run_trial time and its metrics lines."""
    last_report_s = float(metrics[-1]["elapsed_s"]) if metrics else 0.0
    return TrialTimes(
        trial_id=trial_id,
        status=status,
        score=score,
        elapsed_s=elapsed_s,
        first_report_s=float(metrics[0]["elapsed_s"]) if metrics else None,
        steps=int(metrics[-1]["step"]) if metrics else 0,
        first_steps=int(metrics[0]["step"]) if metrics else 0,
        intervals=intervals(metrics),
        eval_s=sum(_rung_eval_s(line) for line in metrics) + max(0.0, elapsed_s - last_report_s),
    )


def intervals(metrics: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(steps, seconds training) between consecutive reports: the rung evaluation a report holds
    left out."""
    return [
        (
            int(line["step"]) - int(before["step"]),
            float(line["elapsed_s"]) - float(before["elapsed_s"]) - _rung_eval_s(line),
        )
        for before, line in itertools.pairwise(metrics)
    ]


def _steady_step_s(intervals: list[tuple[int, float]]) -> float:
    steps = sum(n for n, _ in intervals)
    return sum(s for _, s in intervals) / steps if steps else 0.0


def _rung_eval_s(line: dict[str, Any]) -> float:
    return float(line.get("rung_eval_s") or 0.0)


def _mean(run: SweepRun, field: str) -> float:
    return statistics.fmean(value for t in run.trials if (value := getattr(t, field)) is not None)


def _score(score: float | None) -> str:
    return "null" if score is None else f"{score:.2f}"


def _as_json(run: SweepRun) -> dict[str, Any]:
    return {
        "ray_start_s": run.ray_start_s,
        "wall_s": run.wall_s,
        "efficiency": run.efficiency,
        "step_efficiency": run.step_efficiency,
        "trials": [t.__dict__ for t in run.trials],
    }


if __name__ == "__main__":
    main()
