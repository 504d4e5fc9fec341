"""Tokenizers: the tiny preset's byte-level one, and a real Gemma's SentencePiece model.

Both expose what Tunix's sampler and our encoder need: encode / decode / bos_id / eos_id / pad_id.
Both hold `END_OF_TURN` as one token (Gemma's vocabulary has it; the byte tokenizer makes it a
special), so generation can stop where an instruction-tuned model ends its turn.
"""

from __future__ import annotations

import os
from typing import Protocol

from tunesweep_evidence.checkpoint_files import SENTENCEPIECE_FILE
from tunesweep_evidence.judge import END_OF_TURN
from tunix.generate.tokenizer_adapter import TokenizerAdapter


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...
    def bos_id(self) -> int: ...
    def eos_id(self) -> int: ...
    def pad_id(self) -> int: ...


class ByteTokenizer:
    """UTF-8 bytes 0..255 and four specials; `END_OF_TURN` in a text is the EOT special, as it is one
    token of Gemma's vocabulary. BOS is not 0: the sampler prepends BOS only when `bos_id()` is
    truthy."""

    PAD, BOS, EOS, EOT = 256, 257, 258, 259
    VOCAB_SIZE = 264  # 260 ids rounded up to a multiple of 8

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for index, part in enumerate(text.split(END_OF_TURN)):
            ids.extend([self.EOT] if index else [])
            ids.extend(part.encode("utf-8"))
        return ids

    def decode(self, ids: list[int]) -> str:
        turns: list[list[int]] = [[]]
        for i in ids:
            if i == self.EOT:
                turns.append([])
            elif 0 <= i < 256:
                turns[-1].append(i)
        return END_OF_TURN.join(bytes(turn).decode("utf-8", errors="replace") for turn in turns)

    def bos_id(self) -> int:
        return self.BOS

    def eos_id(self) -> int:
        return self.EOS

    def pad_id(self) -> int:
        return self.PAD


def load_sentencepiece(folder: str) -> TokenizerAdapter:
    """The SentencePiece tokenizer of a checkpoint folder (`tokenizer.model`, as Gemma ships it)."""
    import sentencepiece as spm

    path = os.path.join(folder, SENTENCEPIECE_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder}: no {SENTENCEPIECE_FILE} (the checkpoint's SentencePiece model)")
    processor = spm.SentencePieceProcessor()
    processor.Load(path)
    return TokenizerAdapter(processor)


def end_of_turn_id(tokenizer: Tokenizer) -> int | None:
    """The token of `END_OF_TURN`, or None where the vocabulary spells it in several tokens."""
    ids = tokenizer.encode(END_OF_TURN)
    return ids[0] if len(ids) == 1 else None
