"""`bucket.copy_to_file` (streamed in bounded chunks, atomic) and `bucket.file_sizes`, for file:// and
s3:// (a real S3-compatible server, moto's)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import bucket

from tests.evidence.conftest import S3Endpoint

CHUNK = 64 * 2**10


class _WatchedFile:
    """A source file that records what each read returned and can fail after `fail_after` reads."""

    def __init__(self, inner: Any, reads: list[int], fail_after: int | None) -> None:
        self._inner, self._reads, self._fail_after = inner, reads, fail_after

    def read(self, size: int = -1) -> bytes:
        if self._fail_after is not None and len(self._reads) >= self._fail_after:
            raise ConnectionResetError("connection reset by peer (simulated)")
        data = bytes(self._inner.read(size))
        self._reads.append(len(data))
        return data

    def __enter__(self) -> _WatchedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


def _watch(monkeypatch: pytest.MonkeyPatch, fail_after: int | None = None) -> list[int]:
    """Route every source file `bucket` opens through `_WatchedFile`; returns the read sizes."""
    reads: list[int] = []
    real: Callable[[str], Any] = bucket._filesystem

    class Watched:
        def __init__(self, protocol: str) -> None:
            self._fs = real(protocol)

        def open(self, path: str, mode: str, **options: Any) -> _WatchedFile:
            return _WatchedFile(self._fs.open(path, mode, **options), reads, fail_after)

    monkeypatch.setattr(bucket, "_filesystem", Watched)
    return reads


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A folder URI on each kind of store."""
    if request.param == "s3":
        endpoint: S3Endpoint = request.getfixturevalue("s3_server")
        return f"{endpoint.uri}/models/tiny"
    return f"file://{tmp_path}/store/models/tiny"


def test_a_copy_is_the_same_bytes_read_in_bounded_chunks(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = os.urandom(10 * CHUNK + 123)
    bucket.write_bytes(f"{store}/model.safetensors", payload)
    reads = _watch(monkeypatch)

    bucket.copy_to_file(f"{store}/model.safetensors", tmp_path / "cache/model.safetensors", CHUNK)

    assert (tmp_path / "cache/model.safetensors").read_bytes() == payload
    assert max(reads) == CHUNK and sum(reads) == len(payload) and len(reads) == 12  # 10 full, 1 partial, EOF
    assert os.listdir(tmp_path / "cache") == ["model.safetensors"]  # no temporary file left


def test_a_copy_that_fails_midway_leaves_no_file(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket.write_bytes(f"{store}/model.safetensors", os.urandom(4 * CHUNK))
    _watch(monkeypatch, fail_after=2)

    with pytest.raises(bucket.BucketError, match=r"copying .*model\.safetensors: .*connection reset"):
        bucket.copy_to_file(f"{store}/model.safetensors", tmp_path / "cache/model.safetensors", CHUNK)

    assert os.listdir(tmp_path / "cache") == []


def test_a_target_that_cannot_be_written_says_where(store: str, tmp_path: Path) -> None:
    bucket.write_bytes(f"{store}/model.safetensors", b"w")
    (tmp_path / "taken").write_text("a file where the copy's folder should be")
    with pytest.raises(bucket.BucketError, match=f"that {tmp_path}/taken has room and is writable"):
        bucket.copy_to_file(f"{store}/model.safetensors", tmp_path / "taken/model.safetensors")


def test_a_missing_object_is_not_found(store: str, tmp_path: Path) -> None:
    with pytest.raises(bucket.ObjectNotFound, match=r"model\.safetensors: not found"):
        bucket.copy_to_file(f"{store}/model.safetensors", tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()


def test_file_sizes_lists_the_folders_files(store: str) -> None:
    assert bucket.file_sizes(store) == {}  # no folder yet
    bucket.write_bytes(f"{store}/model.safetensors", b"w" * 1000)
    bucket.write_text(f"{store}/config.json", "{}")
    bucket.write_text(f"{store}/extra/readme.md", "a subfolder is not a file of the folder")
    assert bucket.file_sizes(store) == {"config.json": 2, "model.safetensors": 1000}


def test_file_sizes_leaves_out_unfinished_writes(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"w" * 10)
    (tmp_path / ".tunesweep-tmp-model.safetensors.x1").write_bytes(b"partial")
    assert bucket.file_sizes(str(tmp_path)) == {"model.safetensors": 10}


def test_copying_from_s3_keeps_memory_bounded(s3_server: S3Endpoint, tmp_path: Path) -> None:
    # A real process, a real client: its peak RSS grows by about one chunk, not by the object's size.
    size, chunk = 96 * 2**20, 2**20
    source = f"{s3_server.uri}/big/model.safetensors"
    bucket.write_bytes(source, os.urandom(2**20) * 96)
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from tunesweep_evidence import bucket
        bucket.file_sizes({source.rsplit("/", 1)[0]!r})  # the client and its imports are in place
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bucket.copy_to_file({source!r}, Path({str(tmp_path / "model.safetensors")!r}), {chunk})
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=os.environ | s3_server.env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model.safetensors").stat().st_size == size
    grown_kib = int(done.stdout.split()[-1])
    assert grown_kib < 24 * 2**10, f"peak RSS grew by {grown_kib} KiB copying a {size >> 20} MiB object"
