"""What trial checkpoints cost, and what they save when a trial's process is lost:
`python -m bench.checkpoint_cost` (about 3 minutes on 2 idle CPU cores).

Real flax-lm trials on the CPU, of a Gemma-shaped Hugging Face-layout checkpoint (`bench.hf_checkpoint`)
of `--layers` layers of width `--embed-dim` and a `--vocab`-entry embedding, each fine-tune (LoRA and
full) in turn. Every trial start runs in a fresh process, as a restarted trial does; all share one JAX
compile cache, which a first, untimed run of each fine-tune fills (as a sweep's earlier trials do).

1. Cost: the trial with checkpoints (keep=2) at every other report step. Per checkpoint: its bytes,
   its upload (`save_s` in checkpoint.json), and Tunix's local orbax save (in its step loop): how
   much longer the report intervals that hold a local save are than those that hold an upload, less
   the upload. The two kinds alternate in one trial, so a burst of load elsewhere on the machine
   moves both alike (medians). Then the trial's wall time with checkpoints over without (keep=0),
   and what a checkpoint at every report step adds to it.
2. A lost process: the trial is killed (`os._exit` inside the report of step `k`, `--kill-at` of the
   way through, as a lost Pod or node leaves it) and started again in its folder. Steps trained in all
   and the wall seconds of both starts, against the uninterrupted trial: without checkpoints the
   restart trains all `k` steps again (it is the uninterrupted trial); with them it goes on from the
   newest checkpoint. The resumed trial must end as the uninterrupted one: the same loss at every
   report step, the same predictions and score.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import CheckpointRef, EvalSummary, MetricsLine, RunManifest

from bench.start_overhead import NAME, gemma_architecture, stand_in, write_gemma_checkpoint

FINE_TUNES = ("lora", "full")
KEEP = 2
SAVE_EVERY = 2
"""The trial whose report intervals price a checkpoint saves at every `SAVE_EVERY`-th report."""
LOST = 86
"""The exit status of a killed trial process."""


@dataclass(frozen=True)
class Run:
    """One trial start in its own process, and the trial's evidence after it."""

    folder: Path
    wall_s: float
    """The process's seconds in `run_trial`, to its end or to the kill."""
    resumed_from: int
    """The checkpoint step this start went on from; 0: from the start."""
    lines: list[MetricsLine]
    checkpoints: list[CheckpointRef]
    predictions: list[str] | None
    """None: not evaluated (killed)."""
    score: float | None


@dataclass(frozen=True)
class Cost:
    """Per checkpoint, and per step without."""

    bytes: float
    upload_s: float
    local_s: float
    """Tunix's (orbax's) save into the trial's local folder."""
    step_s: float
    wall_ratio: float
    """The trial's wall time with checkpoints over without."""
    share: float
    """What a checkpoint at every report step adds to the trial's wall time without them."""

    @property
    def per_checkpoint_s(self) -> float:
        return self.local_s + self.upload_s


@dataclass(frozen=True)
class Restart:
    """A trial killed at `lost_at` and started again."""

    lost_at: int
    resumed_from: int
    max_steps: int
    lost_s: float
    """The killed start's seconds, to the kill."""
    again_s: float

    @property
    def steps_trained(self) -> int:
        return self.lost_at + self.max_steps - self.resumed_from

    @property
    def steps_lost(self) -> int:
        return self.lost_at - self.resumed_from

    @property
    def wall_s(self) -> float:
        return self.lost_s + self.again_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--embed-dim", type=int, default=256, help="a multiple of 8 (8 heads)")
    parser.add_argument("--vocab", type=int, default=4096, help="embedding entries")
    parser.add_argument("--steps", type=int, default=80, help="the trial's max_steps")
    parser.add_argument("--report-every", type=int, default=10, help="the report (and checkpoint) interval")
    parser.add_argument("--kill-at", type=float, default=0.7, help="the share of the steps the kill comes at")
    parser.add_argument("--fine-tunes", default=",".join(FINE_TUNES), help="lora, full or lora,full")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _trial_process(json.loads(args.child))
        return
    fine_tunes = args.fine_tunes.split(",")
    if unknown := sorted(set(fine_tunes) - set(FINE_TUNES)):
        raise SystemExit(f"--fine-tunes: unknown {', '.join(unknown)}; use lora, full or lora,full")
    if args.steps < (SAVE_EVERY + 1) * args.report_every:
        raise SystemExit(
            f"--steps {args.steps} is under {SAVE_EVERY + 1} x --report-every {args.report_every}: a "
            "checkpoint is priced from the report intervals that end at a save and those after one"
        )
    lost_at = kill_step(args.steps, args.report_every, args.kill_at)

    command = shlex.join(["python", "-m", "bench.checkpoint_cost", *(sys.argv[1:] if argv is None else argv)])
    print(f"Trial checkpoints, on the CPU with a tiny model: {command}")
    shape = {"layers": args.layers, "embed_dim": args.embed_dim, "vocab": args.vocab}
    with tempfile.TemporaryDirectory(prefix="bench-checkpoint-") as work:
        checkpoint = Path(work, "checkpoint")
        parameters = write_gemma_checkpoint(checkpoint, gemma_architecture(**shape))
        print(
            f"  Gemma-shaped checkpoint: {args.layers} layers, embed {args.embed_dim}, vocab {args.vocab} "
            f"({parameters / 1e6:.1f}M parameters); {args.steps} steps, a report every {args.report_every}; "
            "wall times are of single runs (noisy on a shared machine), the costs medians within one run"
        )
        runner = _Runner(Path(work), shape)
        for fine_tune in fine_tunes:
            _bench(runner, _config(args, str(checkpoint), fine_tune), fine_tune, lost_at)


def kill_step(max_steps: int, report_every: int, share: float) -> int:
    """The report step at `share` of the way through (rounded down), before the last step: the
    trial process is killed inside a report."""
    step = int(max_steps * share) // report_every * report_every
    if not report_every <= step < max_steps:
        raise SystemExit(
            f"--kill-at {share} of --steps {max_steps} is on no report step (every {report_every}) "
            "before the last; raise --steps or move --kill-at"
        )
    return step


def cost(saved: Run, plain_wall_s: float, max_steps: int, report_every: int) -> Cost:
    """What a checkpoint costs, from the report intervals of one trial (`saved`) that saves at every
    `SAVE_EVERY`-th report step, so that intervals of each kind alternate under the same load. Tunix
    saves in its step loop, before the step's report: the interval ending at a save step holds that
    local save. The upload comes after the report's line: the next interval holds it, and its seconds
    are in checkpoint.json (`save_s`)."""
    saves = range(SAVE_EVERY * report_every, max_steps + 1, SAVE_EVERY * report_every)
    intervals = report_intervals(saved, report_every)
    upload_s = statistics.fmean(c.save_s for c in saved.checkpoints)
    plain_s = statistics.median(s for a, b, s in intervals if a in saves) - upload_s
    local_s = statistics.median(s for a, b, s in intervals if b in saves) - plain_s
    return Cost(
        bytes=statistics.fmean(c.bytes for c in saved.checkpoints),
        upload_s=upload_s,
        local_s=local_s,
        step_s=plain_s / report_every,
        wall_ratio=saved.wall_s / plain_wall_s,
        share=-(-max_steps // report_every) * (local_s + upload_s) / plain_wall_s,
    )


def report_intervals(run: Run, report_every: int) -> list[tuple[int, int, float]]:
    """(from step, to step, seconds) between consecutive reports `report_every` steps apart: no
    loading, compiling or evaluating."""
    return [
        (a.step, b.step, b.elapsed_s - a.elapsed_s)
        for a, b in itertools.pairwise(run.lines)
        if b.step - a.step == report_every
    ]


def restart(lost: Run, again: Run, max_steps: int) -> Restart:
    return Restart(
        lost_at=lost.lines[-1].step,
        resumed_from=again.resumed_from,
        max_steps=max_steps,
        lost_s=lost.wall_s,
        again_s=again.wall_s,
    )


def same_ending(run: Run, reference: Run) -> bool:
    """The same loss at every report step, the same predictions and score (both evaluated)."""
    return (
        run.predictions is not None
        and [(line.step, line.loss) for line in run.lines]
        == [(line.step, line.loss) for line in reference.lines]
        and (run.predictions, run.score) == (reference.predictions, reference.score)
    )


def _bench(runner: _Runner, config: dict[str, Any], fine_tune: str, lost_at: int) -> None:
    max_steps, report_every = config["training"]["max_steps"], config["training"]["report_every_steps"]
    first = runner.run(config, keep=0)  # fills the compile cache; the ending the others must match
    lost = {keep: runner.run(config, keep, lost_at=lost_at) for keep in (0, KEEP)}
    # Without checkpoints the restart trains the whole trial again: it is the uninterrupted trial.
    plain = runner.run(config, keep=0, folder=lost[0].folder)
    resumed = runner.run(config, keep=KEEP, folder=lost[KEEP].folder)
    saved = runner.run(config, keep=KEEP, every_steps=SAVE_EVERY * report_every)
    figures = cost(saved, plain.wall_s, max_steps, report_every)
    restarts = {keep: restart(lost[keep], again, max_steps) for keep, again in ((0, plain), (KEEP, resumed))}

    print(f"\n{fine_tune} fine-tune")
    print(f"  per step        {figures.step_s * 1e3:.1f} ms")
    print(
        f"  per checkpoint  {figures.bytes / 1e6:.2f} MB, {figures.per_checkpoint_s:.3f} s = "
        f"{figures.local_s:.3f} s Tunix's orbax save + {figures.upload_s:.3f} s upload "
        f"(the time of {figures.per_checkpoint_s / figures.step_s:.1f} steps)"
    )
    print(
        f"  trial wall time {plain.wall_s:.1f} s without checkpoints, {saved.wall_s:.1f} s with keep={KEEP} "
        f"and one every {SAVE_EVERY * report_every} steps: x{figures.wall_ratio:.2f}; one at every report "
        f"(every {report_every}) adds {figures.share:.0%} by the cost above"
    )
    print(
        f"  killed inside the report of step {lost_at} of {max_steps} and started again (a kill at any other "
        f"moment loses the steps since the newest checkpoint: at keep={KEEP} at most {report_every}, "
        f"{report_every * figures.step_s:.1f} s)"
    )
    for keep, run in restarts.items():
        print(
            f"    keep={keep}: resumed from step {run.resumed_from}, {run.steps_trained} steps trained "
            f"(x{run.steps_trained / max_steps:.2f}), {run.steps_lost} lost; {run.wall_s:.1f} s "
            f"(x{run.wall_s / plain.wall_s:.2f}: {run.lost_s:.1f} s to the kill, then {run.again_s:.1f} s)"
        )
    print(
        f"  ends as the uninterrupted trial (each report's loss, the predictions, score {plain.score}): "
        f"run again {same_ending(plain, first)}, resumed {same_ending(resumed, plain)}"
    )


def _config(args: argparse.Namespace, checkpoint: str, fine_tune: str) -> dict[str, Any]:
    return {
        "model": {
            "name": NAME,
            "checkpoint": checkpoint,
            "max_length": 64,
            "lora": {"rank": 8, "alpha": 16.0} if fine_tune == "lora" else None,
        },
        "training": {
            "max_steps": args.steps,
            "report_every_steps": args.report_every,
            "warmup_steps": 2,
            "per_device_batch_size": 8,
        },
        "data": {"train_size": 512, "eval_size": 8, "test_size": 8, "rung_size": 4},
        "eval": {"max_generation_steps": 32, "batch_size": 8},
    }


class _Runner:
    """Starts trials in fresh processes, each trial in a folder of its own under `work`."""

    def __init__(self, work: Path, shape: dict[str, int]) -> None:
        self._work = work
        self._shape = shape
        self._env = {**os.environ, "TUNESWEEP_COMPILE_CACHE": str(work / "jax-cache")}
        self._trials = 0

    def run(
        self,
        config: dict[str, Any],
        keep: int,
        every_steps: int | None = None,
        lost_at: int | None = None,
        folder: Path | None = None,
    ) -> Run:
        """A start of a new trial, or of the trial in `folder` again, keeping `keep` checkpoints saved
        at the report steps that are multiples of `every_steps` (None: all); killed at the report of
        `lost_at` if given."""
        if folder is None:
            self._trials += 1
            folder = self._work / f"trial-{self._trials}"
        child = {
            "config": config,
            "out": str(folder),
            "policy": {"keep": keep, "every_steps": every_steps},
            "lost_at": lost_at,
            "shape": self._shape,
        }
        command = [sys.executable, "-m", "bench.checkpoint_cost", "--child", json.dumps(child)]
        done = subprocess.run(command, env=self._env, capture_output=True, text=True, check=False)
        if done.returncode != (LOST if lost_at is not None else 0):
            raise SystemExit(f"trial process exited with {done.returncode}:\n{done.stderr[-4000:]}")
        return _read_run(folder, float(json.loads(done.stdout.strip().splitlines()[-1])["wall_s"]))


def _read_run(folder: Path, wall_s: float) -> Run:
    manifest = bucket.read_document(str(folder / layout.RUN_MANIFEST), RunManifest)
    summary_uri = str(folder / layout.EVAL_SUMMARY)
    summary = bucket.read_document(summary_uri, EvalSummary) if bucket.exists(summary_uri) else None
    return Run(
        folder=folder,
        wall_s=wall_s,
        resumed_from=manifest.attempts[-1].resumed_from_step,
        lines=bucket.read_jsonl(str(folder / layout.METRICS), MetricsLine),
        checkpoints=manifest.checkpoints,
        predictions=None if summary is None else [row.prediction for row in summary.rows],
        score=None if summary is None else summary.primary_score,
    )


def _trial_process(child: dict[str, Any]) -> None:
    """One trial start; prints its seconds, or dies inside the report of `lost_at` as a lost Pod does."""
    from tunesweep_trainer.checkpointing import CheckpointPolicy
    from tunesweep_trainer.trial import TrialIdentity, run_trial

    stand_in(gemma_architecture(**child["shape"]))
    started = time.monotonic()

    def report(metrics: dict[str, Any]) -> None:
        if metrics["step"] == child["lost_at"]:
            print(json.dumps({"wall_s": time.monotonic() - started}), flush=True)
            os._exit(LOST)

    run_trial(
        "flax-lm",
        child["config"],
        child["out"],
        identity=TrialIdentity(tuning_job_id="bench", trial_id=Path(child["out"]).name),
        report=report,
        checkpoints=CheckpointPolicy(**child["policy"]),
    )
    print(json.dumps({"wall_s": time.monotonic() - started}))


if __name__ == "__main__":
    main()
