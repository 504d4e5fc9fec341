"""An S3-compatible server for tests: moto's standalone server, one process on 127.0.0.1.

tests/evidence's session-wide ``s3_server`` runs one for a whole session; operator tests run their own
so that they can start it late and stop it, to play an evidence bucket that is down and comes back.
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
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class S3Server:
    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def credentials(self) -> dict[str, str]:
        """What a client needs (the operator; the Ray pods get it from a Secret)."""
        return {
            "AWS_ACCESS_KEY_ID": "tunesweep-test-key",
            "AWS_SECRET_ACCESS_KEY": "tunesweep-test-secret-value",
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

    def start(self, bucket: str | None = None) -> None:
        """Start the server, wait until it answers, and create `bucket` if one is named."""
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), _NO_PROXY.open(f"{self.endpoint}/moto-api/", timeout=2):
                break
            exited = self._process.poll()
            if exited is not None or time.monotonic() > deadline:
                why = "no answer in 60 s" if exited is None else f"exited with {exited}"
                raise RuntimeError(f"moto server on {self.endpoint}: {why}:\n{self.log.read_text()}")
            time.sleep(0.1)
        if bucket is not None:
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
