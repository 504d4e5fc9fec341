"""How the Ray pods reach the evidence location: env, volumes and mounts for their containers.

Credentials stay in the user's Secret: the pods reference it (`secretKeyRef`, a secret volume), so
no credential value is ever copied into the RayJob, the plan or the evidence.

- s3://: the Secret's keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and, if present,
  AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, AWS_REGION) become env of the same names.
- gs://: the Secret (key `key.json`, a service-account key) is mounted read-only and
  GOOGLE_APPLICATION_CREDENTIALS points at it.
- file://: no Secret; the operator's file-evidence volume is mounted where the operator mounts it.

Without a Secret, s3:// and gs:// rely on the pods' ambient identity (IRSA, Workload Identity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunesweep_evidence.pod_overlay import CREDENTIALS_DIR as GCS_CREDENTIALS_DIR
from tunesweep_evidence.pod_overlay import CREDENTIALS_VOLUME

from .settings import OperatorSettings

S3_REQUIRED_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
S3_OPTIONAL_KEYS = ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION")
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
        return PodAccess(
            env=[_secret_env(credentials_secret, key, optional=False) for key in S3_REQUIRED_KEYS]
            + [_secret_env(credentials_secret, key, optional=True) for key in S3_OPTIONAL_KEYS]
        )
    if scheme == "gs" and credentials_secret:
        return PodAccess(
            env=[
                {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": f"{GCS_CREDENTIALS_DIR}/{GCS_KEY_FILE}"}
            ],
            volumes=[{"name": CREDENTIALS_VOLUME, "secret": {"secretName": credentials_secret}}],
            volume_mounts=[{"name": CREDENTIALS_VOLUME, "mountPath": GCS_CREDENTIALS_DIR, "readOnly": True}],
        )
    if scheme == "file" and settings.file_evidence_volume is not None:
        return PodAccess(
            volumes=[{"name": FILE_EVIDENCE_VOLUME, **settings.file_evidence_volume}],
            volume_mounts=[{"name": FILE_EVIDENCE_VOLUME, "mountPath": settings.file_evidence_path}],
        )
    return PodAccess()


def _secret_env(secret: str, key: str, *, optional: bool) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": key, "valueFrom": {"secretKeyRef": ref}}
