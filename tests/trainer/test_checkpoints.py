"""Checkpoint loading through the real path: safetensors in Hugging Face layout (+ tokenizer.model)."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flax import nnx
from tunesweep_evidence import bucket
from tunesweep_evidence.training_config import ModelConfig
from tunesweep_trainer.data import arithmetic
from tunesweep_trainer.flax_lm import checkpoint, evaluation, models
from tunix.models.gemma import model as gemma_lib

from bench import hf_checkpoint

PROMPTS = [f"{arithmetic.record(a, b).prompt}\n" for a, b in ((39, 79), (12, 10), (55, 44), (90, 18))]


def _params(model: nnx.Module) -> dict[Any, np.ndarray]:
    return {path: np.array(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def _same_params(left: nnx.Module, right: nnx.Module) -> bool:
    a, b = _params(left), _params(right)
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _generate(model: nnx.Module, tokenizer: Any) -> list[str]:
    return evaluation.generate(model, tokenizer, PROMPTS, max_generation_steps=24, batch_size=4)


def test_saved_tiny_model_reloads_and_evaluates_the_same(tmp_path: Path) -> None:
    original, tokenizer = models.build(ModelConfig(), seed=7)
    hf_checkpoint.save(original, str(tmp_path / "ckpt"))
    reloaded, _ = models.build(ModelConfig(checkpoint=f"file://{tmp_path / 'ckpt'}"), seed=0)
    assert _same_params(original, reloaded)
    assert not _same_params(original, models.build(ModelConfig(), seed=0)[0])  # the seed matters
    assert _generate(reloaded, tokenizer) == _generate(original, tokenizer)


def test_named_gemma_loads_weights_and_sentencepiece_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real Gemma's weights cannot be downloaded here: the same loading path runs on a Gemma of the
    # tiny preset's shape, its vocabulary a SentencePiece model trained on the spot.
    folder = tmp_path / "gemma-2b-it"
    folder.mkdir()
    vocab = hf_checkpoint.train_sentencepiece(folder / "tokenizer.model")
    architecture = dataclasses.replace(models.tiny_config(), num_embed=vocab)
    monkeypatch.setattr(models, "architecture_config", lambda name, dtype: architecture)
    original = gemma_lib.Gemma(architecture, rngs=nnx.Rngs(params=3))
    hf_checkpoint.save(original, str(folder))

    loaded, tokenizer = models.build(ModelConfig(name="gemma-2b-it", checkpoint=str(folder)), seed=0)
    assert _same_params(original, loaded)
    assert (tokenizer.bos_id(), tokenizer.eos_id(), tokenizer.pad_id()) == (2, 1, 0)
    assert tokenizer.decode(tokenizer.encode("Q: 39+79=?")) == "Q: 39+79=?"
    assert _generate(loaded, tokenizer) == _generate(original, tokenizer)


def test_bucket_checkpoint_is_copied_once_into_the_local_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "bucket" / "ckpt"
    hf_checkpoint.save(models.random_tiny(seed=1), str(source))
    (source / "notes.txt").write_text("not part of a checkpoint")
    # Treat the folder like an object store: no local path, so the files are fetched.
    monkeypatch.setattr(bucket, "local_path", lambda uri: None)
    monkeypatch.setenv(checkpoint.CACHE_ENV, str(tmp_path / "cache"))
    local = checkpoint.local_folder(str(source))
    assert Path(local).parent == tmp_path / "cache"
    assert sorted(p.name for p in Path(local).iterdir()) == [".complete", "model.safetensors"]
    (source / "model.safetensors").unlink()
    assert checkpoint.local_folder(str(source)) == local  # the second trial reads the cache


def _bucket_checkpoint(folder: Path) -> dict[str, bytes]:
    """A checkpoint folder (random weights: only the copy is under test) and the files a trial reads."""
    files = {
        "model.safetensors": os.urandom(3 * 2**20),
        "config.json": b"{}",
        "tokenizer.model": os.urandom(1000),
    }
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not read by a trial, so not copied")
    return files


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_copy_killed_midway_is_not_a_checkpoint_and_the_next_starts_over(tmp_path: Path) -> None:
    source = tmp_path / "bucket" / "ckpt"
    files = _bucket_checkpoint(source)
    cache = tmp_path / "cache"
    # A trial process dies (no cleanup runs) once the first chunk of its first file reached the disk.
    dies = textwrap.dedent(
        f"""
        import os
        from tunesweep_evidence import bucket
        from tunesweep_trainer.flax_lm import checkpoint
        bucket.local_path = lambda uri: None  # as if the folder were in an object store

        def dying(source, target, chunk_bytes):
            target.write(source.read(1024))
            target.flush()
            os._exit(9)

        bucket._pump = dying
        checkpoint.local_folder({str(source)!r})
        """
    )
    env = os.environ | {checkpoint.CACHE_ENV: str(cache)}
    died = subprocess.run([sys.executable, "-c", dies], env=env, capture_output=True, text=True, timeout=120)
    assert died.returncode == 9, died.stderr
    target = cache / checkpoint.cache_folder(str(source)).name
    assert target.is_dir() and not (target / ".complete").exists()
    assert any(p.name.startswith(".tunesweep-tmp-") for p in target.iterdir())  # the crash's leftover

    retried = subprocess.run(
        [sys.executable, "-c", dies.replace("bucket._pump = dying", "")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert retried.returncode == 0, retried.stderr
    assert _folder_files(target) == {**files, ".complete": str(source).encode()}


def test_two_trials_copying_one_checkpoint_at_once_copy_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "bucket" / "ckpt"
    files = _bucket_checkpoint(source)
    monkeypatch.setattr(bucket, "local_path", lambda uri: None)
    monkeypatch.setenv(checkpoint.CACHE_ENV, str(tmp_path / "cache"))
    copying, release, copies = threading.Event(), threading.Event(), []
    real_copy, real_flock, waiting = bucket.copy_to_file, fcntl.flock, []

    def held_copy(uri: str, target: Path, chunk_bytes: int = bucket.COPY_CHUNK_BYTES) -> None:
        copies.append(uri)
        copying.set()
        assert release.wait(timeout=60)
        real_copy(uri, target, chunk_bytes)

    def flock(handle: object, operation: int) -> None:
        if operation == fcntl.LOCK_EX:
            waiting.append(threading.current_thread().name)
        real_flock(handle, operation)  # type: ignore[arg-type]

    monkeypatch.setattr(bucket, "copy_to_file", held_copy)
    monkeypatch.setattr(fcntl, "flock", flock)
    found: dict[str, str] = {}

    def trial(name: str) -> None:
        found[name] = checkpoint.local_folder(str(source))

    first = threading.Thread(target=trial, args=("first",), name="first")
    first.start()
    assert copying.wait(timeout=60)  # the first trial holds the lock, mid-copy
    second = threading.Thread(target=trial, args=("second",), name="second")
    second.start()
    deadline = time.monotonic() + 60
    while "second" not in waiting:  # the second trial is at the lock
        assert time.monotonic() < deadline, "the second trial never asked for the lock"
        time.sleep(0.01)
    release.set()
    first.join(timeout=60)
    second.join(timeout=60)

    assert found["first"] == found["second"]
    assert sorted(copies) == sorted(f"{source}/{name}" for name in files)  # each file copied once
    assert _folder_files(Path(found["first"])) == {**files, ".complete": str(source).encode()}


def test_checkpoint_errors_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(checkpoint.CheckpointError, match="no such folder"):
        checkpoint.local_folder(str(tmp_path / "absent"))
    with pytest.raises(checkpoint.CheckpointError, match=r"no \*.safetensors weights"):
        checkpoint.local_folder(str(tmp_path))


@pytest.mark.parametrize(
    ("name", "layers"), [("gemma-2b-it", 18), ("gemma-2-2b-it", 26), ("gemma-3-1b-it", 26)]
)
def test_gemma_names_resolve_to_tunix_architectures(name: str, layers: int) -> None:
    import jax.numpy as jnp

    assert models.architecture_config(name, jnp.bfloat16).num_layers == layers


def test_unknown_model_name_is_a_clear_error() -> None:
    import jax.numpy as jnp

    with pytest.raises(ValueError, match="'gemma-5-xl' is not a known Gemma"):
        models.architecture_config("gemma-5-xl", jnp.float32)
