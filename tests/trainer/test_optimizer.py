from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from tunesweep_evidence.training_config import TrainingSection
from tunesweep_trainer.flax_lm import optimizer
from tunesweep_trainer.schedule import learning_rate_at


def test_schedule_warms_up_then_decays_to_zero() -> None:
    rates = [float(learning_rate_at(step, 1e-3, 10, 110)) for step in range(110)]
    assert rates[0] == pytest.approx(1e-4)
    assert rates[9] == pytest.approx(1e-3)
    assert rates[60] == pytest.approx(5e-4, rel=1e-3)
    assert rates[-1] < 1e-6
    assert rates[:10] == sorted(rates[:10]) and rates[10:] == sorted(rates[10:], reverse=True)
    assert float(learning_rate_at(0, 1e-3, 0, 100)) == pytest.approx(1e-3)


def test_optimizer_follows_the_schedule() -> None:
    training = TrainingSection(learning_rate=2e-3, warmup_steps=3, max_steps=20)
    tx = optimizer.build(training)
    params = {"w": jnp.ones(4)}
    state = tx.init(params)
    seen = []
    for _ in range(5):
        _, state = tx.update({"w": jnp.ones(4)}, state, params)
        seen.append(float(state.hyperparams["learning_rate"]))
    expected = [float(learning_rate_at(step, 2e-3, 3, 20)) for step in range(5)]
    np.testing.assert_allclose(seen, expected, rtol=1e-6)


def _update_hlo(tx: optax.GradientTransformation) -> str:
    params = {"w": jnp.ones((4, 3))}
    return jax.jit(tx.update).lower(params, tx.init(params), params).as_text()


def test_hyperparameters_are_values_not_constants_of_the_compiled_step() -> None:
    # The same HLO means the same persistent-cache entry: a trial with other values skips compiling.
    first = TrainingSection(learning_rate=1e-4, weight_decay=0.0, warmup_steps=0, max_steps=50)
    second = TrainingSection(learning_rate=3e-3, weight_decay=0.1, warmup_steps=20, max_steps=900)
    assert _update_hlo(optimizer.build(first)) == _update_hlo(optimizer.build(second))
    # the control: a learning rate passed as a constant changes the program
    assert _update_hlo(optax.adamw(1e-4)) != _update_hlo(optax.adamw(3e-3))


def _moved_after_small_updates(tx: optax.GradientTransformation) -> tuple[dict[str, Any], Any]:
    """A bfloat16 weight of 1.0 after 300 AdamW steps of 1e-5 (0.003 in all, under half its
    bfloat16 spacing of 2^-8 per step, above it in sum)."""
    params = {"lora_a": jnp.ones((2, 3), jnp.bfloat16)}
    state = tx.init(params)
    step = jax.jit(tx.update)
    for _ in range(300):
        updates, state = step({"lora_a": jnp.ones((2, 3), jnp.bfloat16)}, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def test_fp32_master_weights_let_a_1e_5_update_move_a_bfloat16_weight() -> None:
    training = TrainingSection(learning_rate=1e-5, warmup_steps=0, max_steps=10**6, weight_decay=0.0)
    params, state = _moved_after_small_updates(optimizer.fp32_master(optimizer.build(training)))
    master = state.master["lora_a"]
    assert master.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(master), 1.0 - 300 * 1e-5, rtol=1e-5)
    assert params["lora_a"].dtype == jnp.bfloat16  # the model still computes in bfloat16
    np.testing.assert_array_equal(np.asarray(params["lora_a"]), np.asarray(master.astype(jnp.bfloat16)))
    assert float(params["lora_a"][0, 0]) < 1.0
    moments = [leaf for leaf in jax.tree.leaves(state.inner) if getattr(leaf, "shape", None) == (2, 3)]
    assert len(moments) == 2 and {leaf.dtype for leaf in moments} == {jnp.dtype(jnp.float32)}
    # the control: the same optimizer on the bfloat16 weight itself rounds every step away
    unmoved, _ = _moved_after_small_updates(optimizer.build(training))
    np.testing.assert_array_equal(np.asarray(unmoved["lora_a"], np.float32), 1.0)
