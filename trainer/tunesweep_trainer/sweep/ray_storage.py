"""Where Ray Tune keeps the experiment state: `<evidence_uri>/ray/`, beside the evidence, so a
retried RayJob or a re-run local sweep finds it and resumes.

Ray reaches the store through pyarrow. For s3:// the endpoint and region come from the same
variables the evidence bucket reads (TUNESWEEP_S3_ENDPOINT_URL / AWS_ENDPOINT_URL, AWS_REGION),
so an S3-compatible store works for both; gs:// is left to pyarrow's own resolution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

from pyarrow import fs as pafs
from tunesweep_evidence import bucket, layout


@dataclass(frozen=True)
class RayStorage:
    storage_path: str
    """The folder holding the experiment folder (prefix-stripped when `filesystem` is set)."""
    name: str
    filesystem: pafs.FileSystem | None = None

    @property
    def experiment_path(self) -> str:
        return f"{self.storage_path.rstrip('/')}/{self.name}"


def ray_storage(evidence_uri: str) -> RayStorage:
    local = bucket.local_path(evidence_uri)
    if local is not None:
        return RayStorage(local, layout.RAY_STATE)
    if evidence_uri.startswith("s3://"):
        return RayStorage(evidence_uri.removeprefix("s3://").rstrip("/"), layout.RAY_STATE, _s3())
    return RayStorage(evidence_uri.rstrip("/"), layout.RAY_STATE)


def _s3() -> pafs.S3FileSystem:
    endpoint = os.environ.get("TUNESWEEP_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not endpoint:
        return pafs.S3FileSystem(region=region) if region else pafs.S3FileSystem()
    parsed = urlparse(endpoint)
    return pafs.S3FileSystem(
        endpoint_override=parsed.netloc, scheme=parsed.scheme or "https", region=region or "us-east-1"
    )
