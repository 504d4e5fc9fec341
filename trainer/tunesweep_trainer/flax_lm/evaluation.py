"""Greedy generation on the evaluation prompts with Tunix's sampler."""

from __future__ import annotations

from collections.abc import Sequence

from flax import nnx
from tunix.generate.sampler import CacheConfig, Sampler

from .tokenizers import Tokenizer, end_of_turn_id

PROMPT_ALIGNMENT = 8


def generate(
    model: nnx.Module,
    tokenizer: Tokenizer,
    prompts: Sequence[str],
    *,
    max_generation_steps: int,
    batch_size: int,
    devices: int = 1,
) -> list[str]:
    """The greedy continuation of each prompt, up to the end of the model's turn, EOS or
    `max_generation_steps` tokens (the stop token left out). The batch is rounded up to a multiple
    of `devices` (padded with repeated prompts): on a mesh, Tunix's Gemma splits it over them."""
    architecture = model.config  # type: ignore[attr-defined]
    longest = max(len(tokenizer.encode(prompt)) for prompt in prompts) + 1  # + BOS
    # One fixed prompt length and batch size: one compiled prefill/decode for the whole evaluation
    # (and for every trial with the same data), where a per-batch power of two would recompile.
    prompt_length = -(-longest // PROMPT_ALIGNMENT) * PROMPT_ALIGNMENT
    sampler = Sampler(
        model,
        tokenizer,
        CacheConfig(
            cache_size=prompt_length + max_generation_steps,
            num_layers=architecture.num_layers,
            num_kv_heads=architecture.num_kv_heads,
            head_dim=architecture.head_dim,
        ),
    )
    end_of_turn = end_of_turn_id(tokenizer)
    stop_ids = [tokenizer.eos_id()] + ([] if end_of_turn is None else [end_of_turn])
    batch_size = -(-min(batch_size, len(prompts)) // devices) * devices
    outputs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        padding = batch_size - len(batch)
        result = sampler(
            batch + [batch[-1]] * padding,
            max_generation_steps=max_generation_steps,
            max_prompt_length=prompt_length,
            eos_tokens=stop_ids,
        )
        outputs.extend(result.text[: len(batch)])
    return outputs
