"""Fixtures for evidence tests, reusable by other areas.

``s3_server`` (function): a fresh bucket on a real S3-compatible HTTP server (moto's standalone
    server, one process per test session on 127.0.0.1), with the process environment pointed at it
    (AWS_ENDPOINT_URL, credentials, region). Yields an :class:`S3Endpoint`; ``.uri`` is
    ``s3://<bucket>`` and ``.env`` the variables to hand to a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.support.controlplane import free_port

_CLEARED_ENV = ("TUNESWEEP_S3_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    bucket: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            # Never read the developer's own AWS files or the instance metadata service.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
        }


@pytest.fixture(scope="session")
def _moto_s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(endpoint, process, log)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_server(_moto_s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    endpoint = S3Endpoint(
        endpoint_url=_moto_s3_endpoint,
        access_key_id="tunesweep-test-key",
        secret_access_key="tunesweep-test-secret",
        region="us-east-1",
        bucket=f"evidence-{uuid.uuid4().hex[:12]}",
    )
    for name in _CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in endpoint.env.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint.endpoint_url, region_name=endpoint.region).create_bucket(
        Bucket=endpoint.bucket
    )
    return endpoint


def _wait_until_serving(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with no_proxy.open(f"{endpoint}/moto-api/", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {endpoint} within 60 s:\n{log.read_text()}")
