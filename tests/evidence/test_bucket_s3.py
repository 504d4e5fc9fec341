"""The s3:// path against a real S3-compatible HTTP server (moto's standalone server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import Plan, SweepSummary

from tests.evidence.builders import build_sweep, lr_trials, run_evidence_cli
from tests.evidence.conftest import S3Endpoint


def test_round_trip(s3_server: S3Endpoint) -> None:
    uri = f"{s3_server.uri}/team-a/sweep/uid"
    bucket.write_text(f"{uri}/promoted/best_config.yaml", "model: {}\n")
    bucket.write_bytes(f"{uri}/trials/0/blob", b"\x00\x01")
    assert bucket.read_text(f"{uri}/promoted/best_config.yaml") == "model: {}\n"
    assert bucket.read_bytes(f"{uri}/trials/0/blob") == b"\x00\x01"
    assert bucket.list_dir(uri) == ["promoted", "trials"]
    assert bucket.exists(f"{uri}/trials/0/blob") and bucket.exists(f"{uri}/trials")
    assert not bucket.exists(f"{uri}/trials/1")
    assert bucket.local_path(uri) is None
    objects = boto3.client("s3", endpoint_url=s3_server.endpoint_url).list_objects_v2(Bucket=s3_server.bucket)
    assert sorted(o["Key"] for o in objects["Contents"]) == [
        "team-a/sweep/uid/promoted/best_config.yaml",
        "team-a/sweep/uid/trials/0/blob",
    ]


def test_listings_are_never_stale(s3_server: S3Endpoint) -> None:
    trials = f"{s3_server.uri}/trials"
    assert bucket.list_dir(trials) == []
    bucket.write_text(f"{trials}/0/run_manifest.json", "{}")
    assert bucket.list_dir(trials) == ["0"]
    # Another process (a trial on another node) writes; this process must see it at once.
    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url)
    client.put_object(Bucket=s3_server.bucket, Key="trials/1/run_manifest.json", Body=b"{}")
    assert bucket.list_dir(trials) == ["0", "1"]
    assert bucket.exists(f"{trials}/1/run_manifest.json")


def test_a_sweep_built_promoted_and_verified_on_s3(s3_server: S3Endpoint) -> None:
    root = f"{s3_server.uri}/evidence/team-a/lr-sweep/uid"
    built = build_sweep(root, lr_trials([0.0, 1.0], [1.0, 1.0]))
    assert bucket.read_document(layout.join(root, layout.PLAN), Plan) == built.plan
    summary = bucket.read_document(layout.join(root, layout.SWEEP_SUMMARY), SweepSummary)
    assert summary.best_trial is not None and summary.best_trial.trial_id == "1"
    assert run_evidence_cli("verify", root) == 0


def test_the_tunesweep_endpoint_variable_wins(s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TUNESWEEP_S3_ENDPOINT_URL", s3_server.endpoint_url)
    bucket.write_text(f"{s3_server.uri}/x", "via TUNESWEEP_S3_ENDPOINT_URL")
    assert bucket.read_text(f"{s3_server.uri}/x") == "via TUNESWEEP_S3_ENDPOINT_URL"


def test_a_subprocess_finds_the_server_from_the_environment(s3_server: S3Endpoint) -> None:
    code = "from tunesweep_evidence import bucket; import sys; bucket.write_text(sys.argv[1], 'from a child')"
    subprocess.run([sys.executable, "-c", code, f"{s3_server.uri}/child"], env=s3_server.env, check=True)
    assert bucket.read_text(f"{s3_server.uri}/child") == "from a child"


def test_a_missing_bucket_is_not_found(s3_server: S3Endpoint) -> None:
    with pytest.raises(bucket.ObjectNotFound, match="s3://no-such-bucket/x: not found"):
        bucket.read_text("s3://no-such-bucket/x")


def test_an_unreachable_endpoint_names_the_uri_and_hides_the_secret(
    s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the default retries would only slow the test down
    with pytest.raises(bucket.BucketError) as raised:
        bucket.write_text(f"{s3_server.uri}/x", "lost")
    message = str(raised.value)
    assert message.startswith(f"writing {s3_server.uri}/x: EndpointConnectionError")
    assert "AWS_ENDPOINT_URL" in message
    assert s3_server.secret_access_key not in message


def test_a_bad_endpoint_url_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "minio:9000")
    with pytest.raises(
        bucket.BucketError, match="S3 endpoint 'minio:9000' must be an http:// or https:// URL"
    ):
        bucket.read_text("s3://bucket/x")


def test_credentials_from_a_mounted_secret_folder(
    s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """TUNESWEEP_S3_CREDENTIALS_DIR (the Ray pods' mounted Secret): keys and endpoint from files, none
    from the environment; a bad key there is refused and never repeated."""
    folder = tmp_path / "creds"
    folder.mkdir()
    for name, value in {
        "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key + "\n",  # as `kubectl create secret` may
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
    }.items():
        (folder / name).write_text(value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("TUNESWEEP_S3_CREDENTIALS_DIR", str(folder))
    bucket.write_text(f"{s3_server.uri}/from-files", "keys from files")
    assert bucket.read_text(f"{s3_server.uri}/from-files") == "keys from files"
    assert bucket.s3_options()["key"] == s3_server.access_key_id

    # a store error that repeats the secret (moto does not check signatures) is masked
    assert bucket._masked(ValueError(f"bad {s3_server.secret_access_key}")) == "bad ***"

    (folder / "AWS_ACCESS_KEY_ID").unlink()
    with pytest.raises(bucket.BucketError, match="lacks AWS_ACCESS_KEY_ID"):
        bucket.read_text(f"{s3_server.uri}/from-files")
