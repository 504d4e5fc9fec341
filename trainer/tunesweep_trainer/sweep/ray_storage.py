"""Where Ray Tune keeps the experiment state: `<evidence_uri>/ray/`, beside the evidence, so a
retried RayJob or a re-run local sweep finds it and resumes.

Object stores are reached through the same fsspec file systems as the evidence (s3fs, gcsfs),
wrapped for pyarrow, which Ray uses: one client, one set of settings. pyarrow's own S3 client
fails against S3-compatible stores such as MinIO/moto on the multipart upload it uses even for
an empty file. For s3:// the options (endpoint, region, credentials files) are the evidence
bucket's own (`bucket.s3_options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fsspec
from pyarrow import fs as pafs
from tunesweep_evidence import bucket, layout


@dataclass(frozen=True)
class RayStorage:
    storage_path: str
    """The folder holding the experiment folder (without the scheme when `filesystem` is set)."""
    name: str
    filesystem: pafs.FileSystem | None = None

    @property
    def experiment_path(self) -> str:
        return f"{self.storage_path.rstrip('/')}/{self.name}"


def ray_storage(evidence_uri: str) -> RayStorage:
    local = bucket.local_path(evidence_uri)
    if local is not None:
        return RayStorage(local, layout.RAY_STATE)
    scheme, path = evidence_uri.split("://", 1)
    options: dict[str, Any] = bucket.s3_options() if scheme == "s3" else {}
    store = fsspec.filesystem(scheme, use_listings_cache=False, **options)
    return RayStorage(path.rstrip("/"), layout.RAY_STATE, pafs.PyFileSystem(pafs.FSSpecHandler(store)))
