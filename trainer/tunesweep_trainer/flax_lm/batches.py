"""Records to token batches: `[BOS] prompt target [EOS]`, right-padded, loss on the target only.

With a template in turns (one that holds `END_OF_TURN`, as an instruction-tuned Gemma's), the target
also ends the model's turn, `target END_OF_TURN [EOS]`: where the model learns to stop, generation
stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from tunesweep_evidence.judge import END_OF_TURN
from tunix.sft.peft_trainer import TrainingInput
from tunix.sft.utils import build_positions_from_mask, make_causal_attn_mask

from ..data.records import DataError, Record, prompt_text, target_text
from .tokenizers import Tokenizer


@dataclass(frozen=True)
class EncodedRecords:
    tokens: np.ndarray
    """[N, max_length] int32 token ids, right-padded with the pad id."""
    loss_mask: np.ndarray
    """[N, max_length] bool: True on the tokens the model learns to predict (target, turn end, EOS)."""


def encode(records: Sequence[Record], tokenizer: Tokenizer, template: str, max_length: int) -> EncodedRecords:
    tokens = np.full((len(records), max_length), tokenizer.pad_id(), dtype=np.int32)
    loss_mask = np.zeros((len(records), max_length), dtype=bool)
    turn_end = tokenizer.encode(END_OF_TURN) if END_OF_TURN in template else []
    for row, record in enumerate(records):
        prompt = [tokenizer.bos_id(), *tokenizer.encode(prompt_text(record, template))]
        target = [*tokenizer.encode(target_text(record)), *turn_end, tokenizer.eos_id()]
        length = len(prompt) + len(target)
        if length > max_length:
            raise DataError(
                f"record {record.id}: prompt and target are {length} tokens, more than "
                f"model.max_length={max_length}; raise model.max_length or shorten the record"
            )
        tokens[row, :length] = prompt + target
        loss_mask[row, len(prompt) : length] = True
    return EncodedRecords(tokens=tokens, loss_mask=loss_mask)


def training_batches(encoded: EncodedRecords, batch_size: int, seed: int) -> Iterator[TrainingInput]:
    """Endless global batches (each split over the trial's devices by the trainer): every epoch a
    fresh seeded shuffle; the trainer stops at max_steps."""
    count = len(encoded.tokens)
    if count < batch_size:
        raise DataError(
            f"{count} training records are fewer than one batch of {batch_size} "
            "(training.per_device_batch_size x the trial's devices); lower training.per_device_batch_size "
            "or raise data.train_size"
        )
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(count)
        for start in range(0, count - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield TrainingInput(input_tokens=encoded.tokens[index], input_mask=encoded.loss_mask[index])


def model_inputs(pad_id: int) -> Callable[[TrainingInput], dict[str, Any]]:
    """Tunix's `gen_model_input_fn`: positions and the causal mask from the non-pad tokens (the
    default loss reads `input_mask` as the loss mask, shifted by one inside)."""

    def inputs(batch: TrainingInput) -> dict[str, jax.Array]:
        not_pad = batch.input_tokens != pad_id
        return {
            "input_tokens": batch.input_tokens,
            "input_mask": batch.input_mask,
            "positions": build_positions_from_mask(not_pad),
            "attention_mask": make_causal_attn_mask(not_pad),
        }

    return inputs
