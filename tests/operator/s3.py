"""An S3-compatible server (moto's standalone server) that a test can start late and stop, to play an
evidence bucket that is down and comes back. The session-wide `s3_server` of tests/evidence cannot be
stopped under a test, so the operator tests run their own.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from tests.support.controlplane import free_port

REGION = "us-east-1"


class S3Server:
    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def credentials(self) -> dict[str, str]:
        """What the operator and the Ray pods need (the pods get it from a Secret)."""
        return {
            "AWS_ACCESS_KEY_ID": "tunesweep-operator-test-key",
            "AWS_SECRET_ACCESS_KEY": "tunesweep-operator-test-secret-value",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
        }

    @property
    def client_env(self) -> dict[str, str]:
        """`credentials` plus isolation from the developer's AWS files and metadata service."""
        return {
            **self.credentials,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def start(self, bucket: str) -> None:
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline, probe = time.monotonic() + 60, f"{self.endpoint}/moto-api/"
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(probe, timeout=2):
                break
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"moto server did not start on {self.endpoint}:\n{self.log.read_text()}")
            time.sleep(0.1)
        self.client().create_bucket(Bucket=bucket)

    def client(self) -> Any:
        creds = self.credentials
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        )

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
