"""Fixtures for evidence tests, reusable by other areas.

``s3_server`` (function): a fresh bucket on a real S3-compatible HTTP server (moto's standalone
    server, one process per test session on 127.0.0.1), with the process environment pointed at it
    (AWS_ENDPOINT_URL, credentials, region). Yields an :class:`S3Endpoint`; ``.uri`` is
    ``s3://<bucket>`` and ``.env`` the variables to hand to a subprocess.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.moto_server import S3Server

_CLEARED_ENV = ("TUNESWEEP_S3_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class S3Endpoint:
    """One test's bucket on the session's server."""

    server: S3Server
    bucket: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}"

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint

    @property
    def access_key_id(self) -> str:
        return self.server.credentials["AWS_ACCESS_KEY_ID"]

    @property
    def secret_access_key(self) -> str:
        return self.server.credentials["AWS_SECRET_ACCESS_KEY"]

    @property
    def env(self) -> dict[str, str]:
        return self.server.client_env


@pytest.fixture(scope="session")
def _moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("moto") / "server.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_server(_moto_s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    endpoint = S3Endpoint(server=_moto_s3, bucket=f"evidence-{uuid.uuid4().hex[:12]}")
    for name in _CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in endpoint.env.items():
        monkeypatch.setenv(name, value)
    _moto_s3.client().create_bucket(Bucket=endpoint.bucket)
    return endpoint
