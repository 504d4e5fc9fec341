"""`my_trainer.train:run`, a `backend: python` trainer: a one-layer Flax model that learns two-digit
addition from the builtin arithmetic records (`Q: 39+79=?`), with Adam at `optim.learning_rate`.

It reads the two numbers of each prompt as features and answers `ANSWER <rounded sum>`; tunesweep
judges the answers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

if TYPE_CHECKING:
    from tunesweep_trainer.custom import Prompt, TrialContext

SCALE, CENTRE = 100.0, 55.0
NUMBERS = re.compile(r"(\d+)\+(\d+)")


def features(prompts: list[str]) -> jax.Array:
    """The two addends of each prompt, centred and scaled (a well-conditioned least-squares problem)."""
    pairs = [NUMBERS.findall(prompt)[0] for prompt in prompts]
    return jnp.array([[(float(n) - CENTRE) / SCALE for n in pair] for pair in pairs])


def run(config: dict[str, Any], context: TrialContext) -> dict[str, str]:
    model = nn.Dense(1)
    examples = context.train_examples
    inputs = features([record.prompt for record in examples])
    targets = jnp.array([[(float(record.answer) - 2 * CENTRE) / SCALE] for record in examples])
    params = model.init(jax.random.PRNGKey(config["training"]["seed"]), inputs[:1])
    optimizer = optax.adam(config["optim"]["learning_rate"])
    state = optimizer.init(params)
    batch = config["optim"]["batch_size"]

    @jax.jit
    def train_step(params: Any, state: Any, x: jax.Array, y: jax.Array) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((model.apply(p, x) - y) ** 2))(params)
        updates, state = optimizer.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    def answers(prompts: list[Prompt]) -> dict[str, str]:
        predicted = model.apply(params, features([p.prompt for p in prompts]))[:, 0] * SCALE + 2 * CENTRE
        return {p.id: f"ANSWER {round(float(value))}" for p, value in zip(prompts, predicted, strict=True)}

    for step in range(1, context.max_steps + 1):
        window = slice((step - 1) * batch % len(examples), (step - 1) * batch % len(examples) + batch)
        params, state, loss = train_step(params, state, inputs[window], targets[window])
        rung = answers(context.rung_prompts) if context.is_rung_step(step) else None
        context.report(step, {"loss": float(loss)}, rung_answers=rung)
    return answers(context.answer_prompts)
