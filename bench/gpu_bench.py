"""Accelerator benchmark: `python -m bench.gpu_bench` (one short run on a GPU or TPU machine; on a CPU,
`--models tiny` checks that it runs).

For each model (`tiny`: the preset; `gemma-2b`: Gemma 2B's shape, random weights, since no weights can
be downloaded there) and each way of training it (full fine-tuning; LoRA rank 16 on the default
targets), in bfloat16 with float32 master weights (as trials train):
- tokens/s of our step and of a plain Flax/Optax loop of the same model, optimizer and batches
  (`step_throughput`), and their ratio;
- model-FLOPs utilisation: model FLOPs per token x tokens/s over the device's peak dense bfloat16
  FLOP/s (`PEAK_TFLOPS` by device kind, or `--peak-tflops`). Model FLOPs per token, PaLM's
  convention: 6 x the matmul parameters (forward 2, backward 4) for full fine-tuning; 4 for frozen
  weights under LoRA (no weight gradients), plus 6 x the adapters; plus 12 x layers x heads x
  head_dim x sequence length for attention. The embedding counts once, as the tied output projection.

Batches are random token ids, every position a target. `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

from bench import step_throughput

PEAK_TFLOPS = {
    # dense bfloat16, from the vendors' data sheets (SXM parts for NVIDIA)
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L4": 121.0,
    "TPU v5 lite": 197.0,
    "TPU v5": 459.0,
    "TPU v6 lite": 918.0,
    "TPU v4": 275.0,
}
LORA_RANK = 16
MODELS = ("tiny", "gemma-2b")
METHODS = ("full", "lora")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--batch", type=int, default=8, help="sequences per step")
    parser.add_argument("--seq", type=int, default=1024, help="tokens per sequence")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per loop")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak (default: by its kind)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    import jax

    device = jax.devices()[0]
    peak = args.peak_tflops or peak_tflops(device.device_kind)
    print(
        f"{device.device_kind} ({device.platform}), peak {peak or 'unknown'} TFLOP/s bf16; "
        f"batch {args.batch} x {args.seq} tokens, {args.steps} timed steps after {args.warmup}"
    )
    print(f"  {'model':<10}{'method':<8}{'ours tok/s':>14}{'plain tok/s':>14}{'ratio':>8}{'MFU':>8}")
    rows = []
    for name in args.models:
        for method in args.methods:
            row = measure(name, method, args)
            mfu = row["ours_tokens_per_s"] * row["flops_per_token"] / (peak * 1e12) if peak else None
            row |= {"device": device.device_kind, "mfu": mfu}
            rows.append(row)
            print(
                f"  {name:<10}{method:<8}{row['ours_tokens_per_s']:14,.0f}{row['plain_tokens_per_s']:14,.0f}"
                f"{row['ours_tokens_per_s'] / row['plain_tokens_per_s']:8.2f}"
                + (f"{mfu:8.1%}" if mfu is not None else f"{'n/a':>8}")
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)


def peak_tflops(device_kind: str) -> float | None:
    """The longest table entry that names `device_kind` (so "TPU v5 lite" wins over "TPU v5")."""
    found = [kind for kind in PEAK_TFLOPS if kind.lower() in device_kind.lower()]
    return PEAK_TFLOPS[max(found, key=len)] if found else None


def measure(name: str, method: str, args: argparse.Namespace) -> dict[str, Any]:
    from tunesweep_evidence.training_config import TrainingSection

    make_model = _factory(name, method)
    probe = make_model()
    flops = flops_per_token(probe, args.seq)
    vocab = probe.config.num_embed
    del probe
    section = TrainingSection(
        learning_rate=1e-4, per_device_batch_size=args.batch, max_steps=args.warmup + args.steps
    )
    tokens = args.batch * args.seq
    figures = {
        loop: measure_loop(
            make_model, _random_batches(args.batch, args.seq, vocab), 0, section, args.warmup, tokens
        )
        for loop, measure_loop in (("ours", step_throughput.ours), ("plain", step_throughput.plain))
    }
    return {
        "model": name,
        "method": method,
        "batch": args.batch,
        "seq": args.seq,
        "flops_per_token": flops,
        "ours_tokens_per_s": figures["ours"],
        "plain_tokens_per_s": figures["plain"],
    }


def flops_per_token(model: Any, seq: int) -> float:
    """Model FLOPs of one trained token (see the module's docstring)."""
    import jax
    from flax import nnx

    def count(kind: Any) -> int:
        return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, kind)))

    lora = count(nnx.LoRAParam)
    base = count(nnx.Param) - lora
    config = model.config
    attention = 12 * config.num_layers * config.num_heads * config.head_dim * seq
    return (4 if lora else 6) * base + 6 * lora + attention


def _factory(name: str, method: str) -> step_throughput.ModelFactory:
    def make() -> Any:
        import jax.numpy as jnp
        from flax import nnx
        from tunesweep_evidence.training_config import LoraConfig
        from tunesweep_trainer.flax_lm import models
        from tunix.models.gemma import model as gemma_lib

        if name == "tiny":
            model = models.random_tiny(0)
        else:
            model = gemma_lib.Gemma(gemma_lib.ModelConfig.gemma_2b(), rngs=nnx.Rngs(params=0))
        params = nnx.state(model, nnx.Param)
        nnx.update(model, nnx.map_state(lambda _, x: x.astype(jnp.bfloat16), params))
        return (
            models.with_lora(model, LoraConfig(rank=LORA_RANK, alpha=2.0 * LORA_RANK), 0)
            if method == "lora"
            else model
        )

    return make


def _random_batches(batch: int, seq: int, vocab: int) -> Iterator[Any]:
    import numpy as np
    from tunix.sft.peft_trainer import TrainingInput

    rng = np.random.default_rng(0)
    while True:
        # ids from 1: 0 is the pad id, and every position is a target
        tokens = rng.integers(1, vocab, size=(batch, seq), dtype=np.int32)
        yield TrainingInput(input_tokens=tokens, input_mask=np.ones((batch, seq), dtype=np.int32))


if __name__ == "__main__":
    main()
