"""A Gemma (Tunix module layout) written as a Hugging Face-layout checkpoint: safetensors, the inverse
of the mapping Tunix's loader applies (`tunix.models.gemma.params_safetensors`), and a SentencePiece
`tokenizer.model` trained on the spot, so that tests and benches load a model they saved through the
trainer's real loading path (a real Gemma's weights cannot be downloaded here)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import sentencepiece as spm
from flax import nnx
from safetensors.numpy import save_file
from tunesweep_trainer.data import arithmetic

SENTENCEPIECE_VOCAB = 64


def save(model: nnx.Module, folder: str) -> None:
    tensors: dict[str, np.ndarray] = {}
    for path, variable in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        tensors.update(_hf_tensors(tuple(path), np.asarray(variable.get_value())))
    os.makedirs(folder, exist_ok=True)
    save_file(tensors, os.path.join(folder, "model.safetensors"))


def train_sentencepiece(path: Path) -> int:
    """Writes a SentencePiece model of the builtin arithmetic task's text to `path` (Gemma's special
    ids: pad 0, eos 1, bos 2); returns its vocabulary size."""
    lines = [f"{r.prompt} {r.trace} ANSWER {r.answer}" for r in arithmetic.deal(0, [("train_size", 2000)])[0]]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=SENTENCEPIECE_VOCAB,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())
    return SENTENCEPIECE_VOCAB


def _hf_tensors(path: tuple, value: np.ndarray) -> dict[str, np.ndarray]:
    if path == ("embedder", "input_embedding"):
        return {"model.embed_tokens.weight": value}
    if path == ("final_norm", "scale"):
        return {"model.norm.weight": value}
    _, layer, *rest = path
    prefix = f"model.layers.{layer}"
    match rest:
        case ["attn", "q_einsum", "w"]:  # [heads, embed, head_dim]
            return {f"{prefix}.self_attn.q_proj.weight": _projection(value)}
        case ["attn", "kv_einsum", "w"]:  # [2, kv_heads, embed, head_dim]
            return {
                f"{prefix}.self_attn.k_proj.weight": _projection(value[0]),
                f"{prefix}.self_attn.v_proj.weight": _projection(value[1]),
            }
        case ["attn", "attn_vec_einsum", "w"]:  # [heads, head_dim, embed]
            return {f"{prefix}.self_attn.o_proj.weight": value.reshape(-1, value.shape[-1]).T}
        case ["mlp", name, "kernel"]:
            return {f"{prefix}.mlp.{name}.weight": value.T}
        case ["pre_attention_norm", "scale"]:
            return {f"{prefix}.input_layernorm.weight": value}
        case ["pre_ffw_norm", "scale"]:
            return {f"{prefix}.pre_feedforward_layernorm.weight": value}
    raise ValueError(f"no Hugging Face name for {path}")


def _projection(value: np.ndarray) -> np.ndarray:
    """[heads, embed, head_dim] -> torch's [heads * head_dim, embed]."""
    heads, embed, head_dim = value.shape
    return value.transpose(1, 0, 2).reshape(embed, heads * head_dim).T
