from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tunesweep_evidence import bucket

PAYLOAD = 8 * 2**20


def test_text_round_trip_for_paths_and_file_uris(tmp_path: Path) -> None:
    bucket.write_text(str(tmp_path / "a/b/plain.txt"), "plain")
    bucket.write_text(f"file://{tmp_path}/a/b/uri.txt", "uri")
    assert bucket.read_text(f"file://{tmp_path}/a/b/plain.txt") == "plain"
    assert bucket.read_bytes(str(tmp_path / "a/b/uri.txt")) == b"uri"
    assert bucket.list_dir(f"file://{tmp_path}/a/b/") == ["plain.txt", "uri.txt"]
    assert bucket.list_dir(str(tmp_path / "a")) == ["b"]
    assert bucket.exists(str(tmp_path / "a/b")) and not bucket.exists(str(tmp_path / "a/c"))
    assert (tmp_path / "a/b/plain.txt").stat().st_mode & 0o777 == 0o644


def test_missing_things(tmp_path: Path) -> None:
    assert bucket.list_dir(str(tmp_path / "nowhere")) == []
    with pytest.raises(bucket.ObjectNotFound, match=r"nowhere\.json: not found") as raised:
        bucket.read_text(str(tmp_path / "nowhere.json"))
    assert isinstance(raised.value, FileNotFoundError)


def test_local_path(tmp_path: Path) -> None:
    assert bucket.local_path(f"file://{tmp_path}/x") == f"{tmp_path}/x"
    assert bucket.local_path(str(tmp_path)) == str(tmp_path)
    assert bucket.local_path("s3://bucket/x") is None
    assert bucket.local_path("gs://bucket/x") is None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://host/x", "ftp://host/x: unsupported scheme 'ftp'; use a path, file://, s3:// or gs://"),
        ("s3:///prefix", "s3:///prefix: no bucket name; write s3://BUCKET/PREFIX"),
        ("gs://", "gs://: no bucket name; write gs://BUCKET/PREFIX"),
        ("s3://AKIA:hunter2@bucket/x", "the s3:// URI carries credentials"),
    ],
)
def test_bad_uris_say_what_to_fix(uri: str, message: str) -> None:
    with pytest.raises(bucket.BucketError) as raised:
        bucket.read_text(uri)
    assert str(raised.value).startswith(message)
    assert "hunter2" not in str(raised.value)


def test_an_unwritable_location_is_a_bucket_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(bucket.BucketError, match=r"writing .*file/x\.json: .*check that the path is right"):
        bucket.write_text(str(tmp_path / "file/x.json"), "{}")


def _run_writer(target: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = _writer_script(body)
    return subprocess.run(
        [sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("dies_in", ["os.fsync", "os.replace"])
def test_a_writer_killed_mid_write_leaves_the_old_file(tmp_path: Path, dies_in: str) -> None:
    target = tmp_path / "eval_summary.json"
    target.write_bytes(b"old")
    done = _run_writer(
        target,
        f"""
        {dies_in} = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
        bucket.write_bytes(sys.argv[1], b"n" * {PAYLOAD})
        """,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert target.read_bytes() == b"old"
    assert bucket.list_dir(str(tmp_path)) == ["eval_summary.json"]  # the dead writer's temp file is hidden


def test_a_writer_killed_before_the_first_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "run_manifest.json"
    done = _run_writer(
        target,
        """
        os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
        bucket.write_text(sys.argv[1], "{}")
        """,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not target.exists()


def test_readers_never_see_a_partial_file_while_a_writer_is_killed(tmp_path: Path) -> None:
    """A real writer rewrites a large file in a loop and is SIGKILLed at an arbitrary point."""
    target = tmp_path / "metrics.jsonl"
    bucket.write_bytes(str(target), b"a" * PAYLOAD)
    script = f"""
        import itertools
        for letter in itertools.cycle(b"ba"):
            bucket.write_bytes(sys.argv[1], bytes([letter]) * {PAYLOAD})
        """
    writer = subprocess.Popen([sys.executable, "-c", _writer_script(script), str(target)])
    seen = set()
    try:
        # until the reader has seen both versions; the deadline only bounds a failure (the writer is a
        # fresh interpreter: on a loaded machine its first rewrite can take seconds)
        deadline = time.monotonic() + 120
        while len(seen) < 2:
            assert writer.poll() is None, f"the writer exited with {writer.returncode}"
            assert time.monotonic() < deadline, f"in 120 s the reader saw only the versions {seen}"
            seen.add(_whole(bucket.read_bytes(str(target))))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert seen == {b"a", b"b"}
    assert _whole(target.read_bytes()) in {b"a", b"b"}


def _writer_script(body: str) -> str:
    return "import os, signal, sys\nfrom tunesweep_evidence import bucket\n" + textwrap.dedent(body)


def _whole(data: bytes) -> bytes:
    """The one letter a complete payload is made of; fails on anything partial or mixed."""
    assert len(data) == PAYLOAD and data == data[:1] * PAYLOAD, f"partial read: {len(data)} bytes"
    return data[:1]
