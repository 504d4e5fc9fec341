"""Trainer benchmark: `python -m bench.trainer_bench` (1-2 minutes on 2 CPU cores).

1. Training throughput of the tiny preset: our step (Tunix PeftTrainer, the optimizer with injected
   hyperparameters, the per-step host read of the loss) against a plain Flax/Optax loop of the same
   model, optimizer and batches. Tokens are padded sequence positions (batch x max_length).
2. Time to first training step, by phase (importing JAX, the other imports, data, model init, the
   first step: compilation or a cache load, and the step), in a fresh process: cold, with an empty
   compilation cache, against cached, a second process with another learning rate and the cache the
   first one filled (what the second trial of a sweep sees); and in a reused trial process (a
   third trial in that same process: imports and in-memory caches already there).
3. Peak resident memory (VmHWM) of the benchmark process and of a trial process.

Each throughput loop runs `--repeats` times, interleaved, and the best run counts: on a shared
machine the best run is the one least disturbed by other work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from bench import step_throughput

BATCH, MAX_LENGTH, SEED = 32, 64, 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=200, help="timed training steps per loop")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each loop; the best counts")
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps first (compilation)")
    parser.add_argument("--first-step", type=float, metavar="LR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_step is not None:  # the child process of part 2
        print(json.dumps(_first_step(args.first_step)))
        return

    os.environ.setdefault("TUNESWEEP_COMPILE_CACHE", tempfile.mkdtemp(prefix="bench-jax-"))
    ours, plain = 0.0, 0.0
    for _ in range(args.repeats):
        ours = max(ours, _ours(args.warmup, args.steps))
        plain = max(plain, _plain(args.warmup, args.steps))
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as cache:
        cold = _child(cache, learning_rate=3e-3)
        cached = _child(cache, learning_rate=1e-3)

    print(f"tiny preset, batch {BATCH} x {MAX_LENGTH} tokens, {args.steps} timed steps after {args.warmup}")
    print(f"  training throughput  tunesweep (Tunix)  {ours:10,.0f} tokens/s")
    print(f"                       plain Flax/Optax   {plain:10,.0f} tokens/s")
    print(f"                       ratio              {ours / plain:10.2f}")
    print("  time to first step (s)          " + "".join(f"{phase:>14}" for phase in (*PHASES, "total")))
    starts = {
        "cold, fresh process": cold["fresh"],
        "cached, fresh process": cached["fresh"],
        "cached, reused process": cached["reused"],
    }
    for label, phases in starts.items():
        print(
            f"    {label:<30}"
            + "".join(f"{phases[phase]:14.2f}" for phase in PHASES)
            + f"{sum(phases.values()):14.2f}"
        )
    total = {label: sum(phases.values()) for label, phases in starts.items()}
    cold_s = total["cold, fresh process"]
    print(
        f"    ratio cached/cold: fresh process {total['cached, fresh process'] / cold_s:.2f}, "
        f"reused process {total['cached, reused process'] / cold_s:.2f}"
    )
    print(f"  peak RSS             this process       {peak_rss_mib():10.0f} MiB")
    print(f"                       a trial process    {cold['peak_rss_mib']:10.0f} MiB (to its first step)")


def _batches() -> Iterator[Any]:
    from tunesweep_trainer.data import arithmetic
    from tunesweep_trainer.flax_lm import batches
    from tunesweep_trainer.flax_lm.tokenizers import ByteTokenizer

    _, records = arithmetic.deal(SEED, [("eval_size", 100), ("train_size", 8000)])
    encoded = batches.encode(records, ByteTokenizer(), "{prompt}\n", MAX_LENGTH)
    return batches.training_batches(encoded, BATCH, SEED)


def _section(steps: int, learning_rate: float = 3e-3) -> Any:
    from tunesweep_evidence.training_config import TrainingSection

    return TrainingSection(learning_rate=learning_rate, per_device_batch_size=BATCH, max_steps=steps)


def _ours(warmup: int, steps: int) -> float:
    from tunesweep_trainer.flax_lm import models
    from tunesweep_trainer.flax_lm.tokenizers import ByteTokenizer

    section = _section(warmup + steps)
    return step_throughput.ours(
        lambda: models.random_tiny(SEED), _batches(), ByteTokenizer.PAD, section, warmup, BATCH * MAX_LENGTH
    )


def _plain(warmup: int, steps: int) -> float:
    from tunesweep_trainer.flax_lm import models
    from tunesweep_trainer.flax_lm.tokenizers import ByteTokenizer

    section = _section(warmup + steps)
    return step_throughput.plain(
        lambda: models.random_tiny(SEED), _batches(), ByteTokenizer.PAD, section, warmup, BATCH * MAX_LENGTH
    )


def _child(cache: str, learning_rate: float) -> dict[str, Any]:
    env = {**os.environ, "TUNESWEEP_COMPILE_CACHE": cache}
    command = [sys.executable, "-m", "bench.trainer_bench", "--first-step", str(learning_rate)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


PHASES = ("import jax", "other imports", "data", "model", "first step")


def _first_step(learning_rate: float) -> dict[str, Any]:
    """A trial's start in this fresh process, by phase; then the start of the next trial (another
    learning rate) in the same process, as a reused trial process sees it."""
    clock = Clock()
    import jax  # noqa: F401

    clock.lap("import jax")
    from tunesweep_trainer import compile_cache
    from tunesweep_trainer.flax_lm import models, training
    from tunesweep_trainer.flax_lm.tokenizers import ByteTokenizer

    compile_cache.enable()
    clock.lap("other imports")

    def start(learning_rate: float) -> dict[str, float]:
        data = _batches()
        clock.lap("data")
        model = models.random_tiny(SEED)
        clock.lap("model")
        training.fine_tune(
            model,
            data,
            ByteTokenizer.PAD,
            _section(1, learning_rate),
            lambda step, loss: clock.lap("first step"),
        )
        return clock.take()

    fresh = start(learning_rate)
    peak = peak_rss_mib()
    reused = start(learning_rate / 2)
    return {
        "fresh": fresh,
        "reused": {"import jax": 0.0, "other imports": 0.0, **reused},
        "peak_rss_mib": peak,
    }


class Clock:
    """Seconds per phase, each lap from the end of the previous one."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self._laps: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self._laps[phase] = self._laps.get(phase, 0.0) + now - self._last
        self._last = now

    def take(self) -> dict[str, float]:
        laps, self._laps = self._laps, {}
        return laps


def peak_rss_mib() -> float:
    # VmHWM, not getrusage: a child's ru_maxrss also counts the parent's pages it had before exec.
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


if __name__ == "__main__":
    main()
