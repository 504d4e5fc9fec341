"""Training throughput of one model: our step (Tunix PeftTrainer, as a trial runs it: the optimizer
with injected hyperparameters, float32 master weights for a bfloat16 model, the per-step host read of
the loss) against a plain Flax/Optax loop of the same model, optimizer and batches. Shared by
`trainer_bench` (the tiny preset on CPU) and `gpu_bench` (a Gemma-2B shape on an accelerator).

Tokens are padded sequence positions (batch x max_length): `tokens_per_step`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

ModelFactory = Callable[[], Any]
"""A fresh model (each loop trains its own, from the same initial weights)."""


def ours(
    make_model: ModelFactory,
    batches: Iterator[Any],
    pad_id: int,
    section: Any,
    warmup: int,
    tokens_per_step: int,
) -> float:
    """Tokens/s of `section.max_steps - warmup` timed steps after `warmup` untimed ones."""
    from tunesweep_trainer import compile_cache
    from tunesweep_trainer.flax_lm import training

    compile_cache.enable()
    marks: dict[int, float] = {}
    training.fine_tune(
        make_model(), batches, pad_id, section, lambda step, loss: marks.setdefault(step, time.perf_counter())
    )
    # the callback sees a step once its loss is on the host: the span covers the timed steps whole
    timed = section.max_steps - warmup
    return timed * tokens_per_step / (marks[section.max_steps] - marks[warmup])


def plain(
    make_model: ModelFactory,
    batches: Iterator[Any],
    pad_id: int,
    section: Any,
    warmup: int,
    tokens_per_step: int,
) -> float:
    """The same as `ours` for a plain loop: one jitted step (value_and_grad, optimizer update) per
    batch, trained on what PeftTrainer trains (the LoRA adapters if the model has them), and no
    host read until the end: the fastest a loop of this step can go."""
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from tunesweep_trainer.flax_lm import batches as batching
    from tunesweep_trainer.flax_lm import training
    from tunix.sft import utils

    model = make_model()
    trained = nnx.LoRAParam if utils.is_lora_enabled(model) else nnx.Param
    opt = nnx.Optimizer(model, training.optimizer_for(model, section), wrt=trained)
    inputs = batching.model_inputs(pad_id)

    def loss_fn(model: Any, batch: Any) -> Any:
        x = inputs(batch)
        logits, _ = model(x["input_tokens"], x["positions"], None, x["attention_mask"])
        log_probs = jax.nn.log_softmax(logits[:, :-1].astype(jnp.float32))
        targets = x["input_tokens"][:, 1:, None]
        mask = x["input_mask"][:, 1:]
        nll = -jnp.take_along_axis(log_probs, targets, axis=-1)[..., 0]
        return (nll * mask).sum() / mask.sum()

    @nnx.jit(donate_argnames=("opt",))
    def step(model: Any, opt: Any, batch: Any) -> Any:
        loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, trained))(model, batch)
        opt.update(model, grads)
        return loss

    for _ in range(warmup):
        loss = step(model, opt, next(batches))
    jax.block_until_ready(loss)
    start = time.perf_counter()
    timed = section.max_steps - warmup
    for _ in range(timed):
        loss = step(model, opt, next(batches))
    jax.block_until_ready(loss)
    return timed * tokens_per_step / (time.perf_counter() - start)
