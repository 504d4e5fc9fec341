"""Tokenizers: the tiny preset's byte-level one, and a real Gemma's SentencePiece model.

Both expose what Tunix's sampler and our encoder need: encode / decode / bos_id / eos_id / pad_id.
"""

from __future__ import annotations

import os
from typing import Protocol

from tunix.generate.tokenizer_adapter import TokenizerAdapter

SENTENCEPIECE_FILE = "tokenizer.model"


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...
    def bos_id(self) -> int: ...
    def eos_id(self) -> int: ...
    def pad_id(self) -> int: ...


class ByteTokenizer:
    """UTF-8 bytes 0..255 and three specials. BOS is not 0: the sampler prepends BOS only when
    `bos_id()` is truthy."""

    PAD, BOS, EOS = 256, 257, 258
    VOCAB_SIZE = 264  # 259 ids rounded up to a multiple of 8

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")

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
