"""How the Ray pods reach the evidence location: env, volumes and mounts for their containers.

Credentials stay in the user's Secret: the pods mount it read-only, so no credential value is ever
copied into the RayJob, the plan or the evidence, nor sits in a container's environment (where every
process of the container, and anyone who can read its spec at the runtime, sees it).

- s3://: the Secret (keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN,
  AWS_ENDPOINT_URL, AWS_REGION) is mounted at CREDENTIALS_DIR and TUNESWEEP_S3_CREDENTIALS_DIR points
  at it: `bucket.s3_options` reads the files.
- gs://: the Secret (key `key.json`, a service-account key) is mounted read-only and
  GOOGLE_APPLICATION_CREDENTIALS points at it.
- file://: no Secret; the operator's file-evidence volume is mounted where the operator mounts it.

Without a Secret, s3:// and gs:// rely on the pods' ambient identity (IRSA, Workload Identity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunesweep_evidence.bucket import S3_CREDENTIALS_DIR_ENV
from tunesweep_evidence.pod_overlay import CREDENTIALS_DIR, CREDENTIALS_VOLUME

from .settings import OperatorSettings

GCS_KEY_FILE = "key.json"
FILE_EVIDENCE_VOLUME = "evidence"


@dataclass(frozen=True)
class PodAccess:
    env: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)


def evidence_access(evidence_uri: str, credentials_secret: str, settings: OperatorSettings) -> PodAccess:
    scheme = evidence_uri.split("://", 1)[0] if "://" in evidence_uri else "file"
    if scheme == "s3" and credentials_secret:
        return _mounted(credentials_secret, S3_CREDENTIALS_DIR_ENV, CREDENTIALS_DIR)
    if scheme == "gs" and credentials_secret:
        return _mounted(
            credentials_secret, "GOOGLE_APPLICATION_CREDENTIALS", f"{CREDENTIALS_DIR}/{GCS_KEY_FILE}"
        )
    if scheme == "file" and settings.file_evidence_volume is not None:
        return PodAccess(
            volumes=[{"name": FILE_EVIDENCE_VOLUME, **settings.file_evidence_volume}],
            volume_mounts=[{"name": FILE_EVIDENCE_VOLUME, "mountPath": settings.file_evidence_path}],
        )
    return PodAccess()


def _mounted(secret: str, variable: str, value: str) -> PodAccess:
    """The Secret mounted read-only at CREDENTIALS_DIR, and one variable naming where."""
    return PodAccess(
        env=[{"name": variable, "value": value}],
        volumes=[{"name": CREDENTIALS_VOLUME, "secret": {"secretName": secret}}],
        volume_mounts=[{"name": CREDENTIALS_VOLUME, "mountPath": CREDENTIALS_DIR, "readOnly": True}],
    )
