"""The JAX compile cache: one folder per JAX version and platform below the configured location, a
location JAX can use or a clear refusal, and its hits and misses counted per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tunesweep_evidence.documents import AcceleratorInfo
from tunesweep_trainer.compile_cache import CACHE_ENV, CacheLocationError, folder_name, location

TPU = AcceleratorInfo(platform="tpu", device_kind="TPU v5 lite", count=4)


def test_each_version_platform_kind_and_device_count_gets_its_own_folder() -> None:
    assert folder_name("0.8.1", "0.8.1", TPU) == "jax-0.8.1_jaxlib-0.8.1/tpu-TPU_v5_lite-4"
    others = {
        folder_name("0.8.2", "0.8.1", TPU),
        folder_name("0.8.1", "0.8.2", TPU),
        folder_name("0.8.1", "0.8.1", TPU.model_copy(update={"count": 8})),
        folder_name("0.8.1", "0.8.1", TPU.model_copy(update={"device_kind": "TPU v6 lite"})),
        folder_name("0.8.1", "0.8.1", AcceleratorInfo(platform="gpu", device_kind="TPU v5 lite", count=4)),
    }
    assert len(others) == 5 and folder_name("0.8.1", "0.8.1", TPU) not in others


def test_folder_names_are_plain_path_segments() -> None:
    odd = AcceleratorInfo(platform="gpu", device_kind="NVIDIA H100 80GB/HBM3 (..)", count=8)
    expected = "jax-0.9.0_cuda_jaxlib-0.9.0/gpu-NVIDIA_H100_80GB_HBM3-8"
    assert folder_name("0.9.0+cuda", "0.9.0", odd) == expected
    assert folder_name("..", "0.9.0", AcceleratorInfo(platform="cpu", device_kind="..")).split("/") == [
        "jax-unknown_jaxlib-0.9.0",
        "cpu-unknown-0",
    ]


@pytest.mark.parametrize("value", ["/mnt/compile-cache", "gs://team-bucket/jax-cache", "gs://team-bucket"])
def test_a_mounted_path_or_a_gcs_uri_is_the_location(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, value)
    assert location() == value


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("file:///mnt/cache", "give the path itself ('/mnt/cache')"),
        ("s3://bucket/cache", "without the evidence's credentials"),
        ("cache/jax", "an absolute path"),
        ("hf://user/cache", "an absolute path"),
    ],
)
def test_a_location_jax_cannot_use_is_refused_by_name(
    value: str, hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, value)
    with pytest.raises(CacheLocationError) as refused:
        location()
    assert str(refused.value).startswith(f"{CACHE_ENV}: {value!r}") and hint in str(refused.value)


def test_unset_means_the_users_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert location() == str(Path.home() / ".cache" / "tunesweep" / "jax")


COMPILE_ONCE = """
import json
from tunesweep_trainer import compile_cache
start = compile_cache.counts()
compile_cache.enable()
import jax, jax.numpy as jnp
jax.jit(lambda x: jnp.tanh(x) @ x.T)(jnp.ones((4, 4))).block_until_ready()
print(json.dumps(compile_cache.use_since(start).model_dump()))
"""


def test_a_second_process_reads_what_the_first_compiled(tmp_path: Path) -> None:
    env = {**os.environ, CACHE_ENV: str(tmp_path), "JAX_PLATFORMS": "cpu"}

    def run() -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-c", COMPILE_ONCE], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.splitlines()[-1])

    first, second = run(), run()
    assert str(first["folder"]).startswith(f"{tmp_path}/jax-") and str(first["folder"]).endswith("/cpu-cpu-1")
    assert isinstance(first["misses"], int) and first["misses"] > 0 and first["hits"] == 0
    assert second == {**first, "hits": first["misses"], "misses": 0}
    assert Path(str(first["folder"])).is_dir()


MOVED = """
import json, os, sys
from tunesweep_trainer import compile_cache
import jax, jax.numpy as jnp
uses = []
for where, size in zip(sys.argv[1:], (4, 5)):
    os.environ[compile_cache.CACHE_ENV] = where
    start = compile_cache.counts()
    compile_cache.enable()
    jax.jit(lambda x: jnp.tanh(x) @ x.T)(jnp.ones((size, size))).block_until_ready()
    uses.append(compile_cache.use_since(start).model_dump())
print(json.dumps(uses))
"""


def test_a_process_that_moves_the_cache_writes_where_it_says(tmp_path: Path) -> None:
    """JAX opens its cache once per process: one that runs trials with another location (a test
    session, a reused trial process) must not go on writing to the first while recording the second."""
    first, second = tmp_path / "first", tmp_path / "second"
    done = subprocess.run(
        [sys.executable, "-c", MOVED, str(first), str(second)],
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        check=True,
    )
    uses = json.loads(done.stdout.splitlines()[-1])
    for root, use in zip((first, second), uses, strict=True):
        assert str(use["folder"]).startswith(f"{root}/jax-") and use["misses"] > 0
        assert any(Path(use["folder"]).iterdir()), f"nothing was written to {use['folder']}"
