"""LoRA trial start overhead, fresh process against reused: `python -m bench.start_overhead` (about 2
minutes on 2 CPU cores).

It first writes a Gemma-shaped Hugging Face-layout checkpoint (`bench.hf_checkpoint`: safetensors and
a SentencePiece tokenizer.model) of `--layers` layers of width `--embed-dim` and a `--vocab`-entry
embedding. A LoRA trial of it then starts as a sweep's trials do: in a fresh process with an empty
compilation cache (a sweep's first trial); in a fresh process with the cache the first one filled (a
trial process not reused); and as the next trial of a reused process, whose base model the process
kept (`flax_lm.base_cache`). Start overhead: the time to the first training step, less one steady
step (the work any trial does), by phase; and as a share of a `--trial-s` trial (goal: at most 5%).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.trainer_bench import Clock

PHASES = ("import jax", "other imports", "model", "data", "first step")
STARTS = ("cold, fresh process", "cached, fresh process", "reused process, base kept")
NAME = "gemma-2b-it"
"""The name the checkpoint is loaded under: Tunix's Gemma loading path, the bench's architecture."""
GOAL = 0.05


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--embed-dim", type=int, default=1024, help="a multiple of 8 (8 heads)")
    parser.add_argument("--vocab", type=int, default=32768, help="embedding entries")
    parser.add_argument("--steps", type=int, default=4, help="steady steps timed after the first")
    parser.add_argument("--trial-s", type=float, default=30.0, help="the trial length the share is of")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # one trial process: a fresh trial, then a reused one
        print(json.dumps(_trial_process(json.loads(args.child))))
        return

    with tempfile.TemporaryDirectory(prefix="bench-start-") as work:
        folder = Path(work, "checkpoint")
        architecture = gemma_architecture(args.layers, args.embed_dim, args.vocab)
        parameters = write_gemma_checkpoint(folder, architecture)
        size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        child = {"checkpoint": str(folder), "architecture": vars(args), "steps": args.steps}
        cache = Path(work, "jax-cache")
        cold = _child(child, cache, learning_rate=3e-3)
        cached = _child(child, cache, learning_rate=1e-3)
    starts = dict(zip(STARTS, (cold["fresh"], cached["fresh"], cached["reused"]), strict=True))

    print(
        f"LoRA trial start, Gemma-shaped HF-layout checkpoint: {args.layers} layers, embed {args.embed_dim}, "
        f"vocab {args.vocab} ({parameters / 1e6:.1f}M parameters, {size_mb:.0f} MB)"
    )
    print("  time to first step (s)        " + "".join(f"{p:>14}" for p in (*PHASES, "total", "steady step")))
    for label, start in starts.items():
        print(
            f"    {label:<28}"
            + "".join(f"{start['phases'][p]:14.2f}" for p in PHASES)
            + f"{sum(start['phases'].values()):14.2f}{start['step_s']:14.2f}"
        )
    print(
        f"  start overhead (to the first step, less one steady step; share of a {args.trial_s:.0f} s trial)"
    )
    for label, start in starts.items():
        overhead = start_overhead(start)
        share = overhead / args.trial_s
        verdict = "meets" if share <= GOAL else "misses"
        print(f"    {label:<28}{overhead:8.2f} s  {share:6.1%}  ({verdict} the {GOAL:.0%} goal)")
    print(
        f"  base model taken from the process's cache: {', '.join(str(s['cached']) for s in starts.values())}"
    )


def start_overhead(start: dict[str, Any]) -> float:
    return float(sum(start["phases"].values()) - start["step_s"])


def gemma_architecture(layers: int, embed_dim: int, vocab: int) -> Any:
    from tunesweep_trainer.flax_lm import models
    from tunix.models.gemma import model as gemma_lib

    return dataclasses.replace(
        models.tiny_config(),
        num_layers=layers,
        num_embed=vocab,
        embed_dim=embed_dim,
        hidden_dim=4 * embed_dim,
        num_heads=8,
        head_dim=embed_dim // 8,
        attention_types=(gemma_lib.AttentionType.GLOBAL,) * layers,
    )


def write_gemma_checkpoint(folder: Path, architecture: Any) -> int:
    """The checkpoint of a random Gemma of `architecture`; returns its parameter count."""
    import jax
    from flax import nnx
    from tunix.models.gemma import model as gemma_lib

    from bench import hf_checkpoint

    folder.mkdir()
    if hf_checkpoint.train_sentencepiece(folder / "tokenizer.model") > architecture.num_embed:
        raise SystemExit(f"--vocab must be at least {hf_checkpoint.SENTENCEPIECE_VOCAB}")
    model = gemma_lib.Gemma(architecture, rngs=nnx.Rngs(params=0))
    hf_checkpoint.save(model, str(folder))
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))


def stand_in(architecture: Any) -> None:
    """Load `NAME` with `architecture`: Tunix knows only the real Gemmas' sizes."""
    from tunesweep_trainer.flax_lm import models

    models.architecture_config = lambda name, dtype: dataclasses.replace(architecture)


def _child(child: dict[str, Any], cache: Path, learning_rate: float) -> dict[str, Any]:
    env = {**os.environ, "TUNESWEEP_COMPILE_CACHE": str(cache)}
    command = [
        sys.executable,
        "-m",
        "bench.start_overhead",
        "--child",
        json.dumps(child | {"lr": learning_rate}),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"trial process failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _trial_process(child: dict[str, Any]) -> dict[str, Any]:
    """A trial's start in this fresh process, by phase; then the next trial's (half the learning
    rate) in the same process, as a reused trial process runs it."""
    clock = Clock()
    import jax  # noqa: F401

    clock.lap("import jax")
    from tunesweep_evidence.training_config import LoraConfig, ModelConfig, TrainingSection
    from tunesweep_trainer import compile_cache
    from tunesweep_trainer.data import arithmetic
    from tunesweep_trainer.flax_lm import batches, models, training

    compile_cache.enable()
    shape = child["architecture"]
    stand_in(gemma_architecture(shape["layers"], shape["embed_dim"], shape["vocab"]))
    config = ModelConfig(name=NAME, checkpoint=child["checkpoint"], max_length=64, lora=LoraConfig(rank=8))
    _, records = arithmetic.deal(0, [("eval_size", 1), ("train_size", 256)])
    steps = child["steps"]
    clock.lap("other imports")

    def trial(learning_rate: float) -> dict[str, Any]:
        built = models.load(config, seed=0)
        clock.lap("model")
        encoded = batches.encode(records, built.tokenizer, "{prompt}\n", config.max_length)
        data = batches.training_batches(encoded, 2, 0)
        clock.lap("data")
        section = TrainingSection(learning_rate=learning_rate, max_steps=1 + steps, warmup_steps=0)

        def on_step(step: int, loss: float) -> None:
            clock.lap("first step" if step == 1 else "steady steps")

        training.fine_tune(built.model, data, built.tokenizer.pad_id(), section, on_step)
        laps = clock.take()
        steady = laps.pop("steady steps") / steps
        return {
            "phases": {p: laps.get(p, 0.0) for p in PHASES},
            "step_s": steady,
            "cached": built.base.cached,
        }

    return {"fresh": trial(child["lr"]), "reused": trial(child["lr"] / 2)}


if __name__ == "__main__":
    main()
