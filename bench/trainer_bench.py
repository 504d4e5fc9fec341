"""Trainer benchmark: `python -m bench.trainer_bench` (1-2 minutes on 2 CPU cores).

1. Training throughput of the tiny preset: our step (Tunix PeftTrainer, the optimizer with injected
   hyperparameters, the per-step host read of the loss) against a plain Flax/Optax loop of the same
   model, optimizer and batches. Tokens are padded sequence positions (batch x max_length).
2. Time to first training step in a fresh process (JAX import, model, data, compilation, one step):
   cold, with an empty compilation cache, against cached, a second process with another learning
   rate and the cache the first one filled (what the second trial of a sweep sees).
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
    print(f"  time to first step   cold cache         {cold['first_step_s']:10.2f} s")
    print(f"                       cached (other lr)  {cached['first_step_s']:10.2f} s")
    print(f"                       ratio cold/cached  {cold['first_step_s'] / cached['first_step_s']:10.2f}")
    print(f"  peak RSS             this process       {_peak_rss_mib():10.0f} MiB")
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
    from tunesweep_trainer import compile_cache
    from tunesweep_trainer.flax_lm import models, training
    from tunesweep_trainer.flax_lm.tokenizers import ByteTokenizer

    compile_cache.enable()
    marks: dict[int, float] = {}
    training.fine_tune(
        models.random_tiny(SEED),
        _batches(),
        ByteTokenizer.PAD,
        _section(warmup + steps),
        lambda step, loss: marks.setdefault(step, time.perf_counter()),
    )
    # the callback sees a step once its loss is on the host: the span covers `steps` whole steps
    return steps * BATCH * MAX_LENGTH / (marks[warmup + steps] - marks[warmup])


def _plain(warmup: int, steps: int) -> float:
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from tunesweep_trainer.flax_lm import batches, models, optimizer
    from tunesweep_trainer.flax_lm.tokenizers import ByteTokenizer

    model = models.random_tiny(SEED)
    opt = nnx.Optimizer(model, optimizer.build(_section(warmup + steps)), wrt=nnx.Param)
    inputs = batches.model_inputs(ByteTokenizer.PAD)

    def loss_fn(model: Any, batch: Any) -> Any:
        x = inputs(batch)
        logits, _ = model(x["input_tokens"], x["positions"], None, x["attention_mask"])
        log_probs = jax.nn.log_softmax(logits[:, :-1])
        targets = x["input_tokens"][:, 1:, None]
        mask = x["input_mask"][:, 1:]
        nll = -jnp.take_along_axis(log_probs, targets, axis=-1)[..., 0]
        return (nll * mask).sum() / mask.sum()

    @nnx.jit(donate_argnames=("opt",))
    def step(model: Any, opt: Any, batch: Any) -> Any:
        loss, grads = nnx.value_and_grad(loss_fn)(model, batch)
        opt.update(model, grads)
        return loss

    data = _batches()
    for _ in range(warmup):
        loss = step(model, opt, next(data))
    jax.block_until_ready(loss)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(model, opt, next(data))
    jax.block_until_ready(loss)
    return steps * BATCH * MAX_LENGTH / (time.perf_counter() - start)


def _child(cache: str, learning_rate: float) -> dict[str, float]:
    env = {**os.environ, "TUNESWEEP_COMPILE_CACHE": cache}
    command = [sys.executable, "-m", "bench.trainer_bench", "--first-step", str(learning_rate)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _first_step(learning_rate: float) -> dict[str, float]:
    start = time.perf_counter()
    from tunesweep_trainer import compile_cache
    from tunesweep_trainer.flax_lm import models, training
    from tunesweep_trainer.flax_lm.tokenizers import ByteTokenizer

    compile_cache.enable()
    first: list[float] = []
    training.fine_tune(
        models.random_tiny(SEED),
        _batches(),
        ByteTokenizer.PAD,
        _section(2, learning_rate),
        lambda step, loss: first.append(time.perf_counter() - start),
    )
    return {"first_step_s": first[0], "peak_rss_mib": _peak_rss_mib()}


def _peak_rss_mib() -> float:
    # VmHWM, not getrusage: a child's ru_maxrss also counts the parent's pages it had before exec.
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


if __name__ == "__main__":
    main()
