"""OperatorSettings: what the Helm chart tells the operator, read once from the environment.

- TUNESWEEP_TRAINER_IMAGE_CPU, _CUDA, _TPU: the trainer image per accelerator, used when
  `spec.trainer.image` is empty.
- TUNESWEEP_OPERATOR_IMAGE: the operator's own image, recorded on each RayJob (audit).
- TUNESWEEP_NAMESPACES: watched namespaces, comma-separated, or `*` for all (CLI flags win).
- TUNESWEEP_EVIDENCE_URI: the evidence location when `spec.evidence.uri` is empty.
- TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES: comma-separated URI prefixes the operator may write evidence
  under, `{namespace}` standing for the sweep's namespace (e.g. `s3://evidence/{namespace}/`); a
  sweep whose evidence folder lies elsewhere is refused before anything is written. Unset:
  `<TUNESWEEP_EVIDENCE_URI>/{namespace}/`, or no restriction when that is unset too.
- TUNESWEEP_FILE_EVIDENCE_VOLUME: one pod volume source as JSON, e.g.
  `{"persistentVolumeClaim": {"claimName": "evidence"}}`: the volume the operator and the Ray pods
  share for `file://` evidence.
- TUNESWEEP_FILE_EVIDENCE_PATH (/evidence): where that volume is mounted, in the operator's pod and
  in the Ray pods alike; `file://` evidence must lie below it.
- TUNESWEEP_RAY_SERVICE_ACCOUNT: service account of the Ray pods (e.g. Workload Identity for gs://).
- TUNESWEEP_HEAD_CPU (1), TUNESWEEP_HEAD_MEMORY (2Gi): the Ray head pod (it runs the driver, not trials).
- TUNESWEEP_PROGRESS_INTERVAL_SECONDS (10): how often a running sweep's progress is read from the bucket.
- TUNESWEEP_RAYJOB_BACKOFF_LIMIT (2): KubeRay's retries of a failed Ray job (the driver restores
  from the evidence's `ray/` state).
- TUNESWEEP_DEADLINE_SLACK_SECONDS (900): added to the trials' time in activeDeadlineSeconds.
- TUNESWEEP_EVIDENCE_SIGNING_KEY: a key file; promotion signs each sweep's digests.json with it
  (checked readable at start).
- TUNESWEEP_RAY_AUTH (token): Ray's token auth on every Ray cluster (see `rayjob`); `disabled` for Ray
  images older than token auth (Ray < 2.52).
- TUNESWEEP_RAY_NETWORK_POLICY: `{"peers": [...]}` (NetworkPolicyPeers): a NetworkPolicy per sweep.
- TUNESWEEP_HEAD_POD_TEMPLATE, TUNESWEEP_WORKER_POD_TEMPLATE: a Pod-template overlay as JSON
  (`tunesweep_evidence.pod_overlay`), e.g. `{"spec": {"imagePullSecrets": [{"name": "registry"}]}}`,
  merged into the Ray head's / workers' Pods before a sweep's own overlay; one that sets what the
  operator sets stops the operator at start.

Without TUNESWEEP_FILE_EVIDENCE_VOLUME, `file://` paths are passed to the Ray pods as they are:
right for a single-node setup or nodes sharing a mount, wrong anywhere else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from tunesweep_evidence import digests, evidence_uri
from tunesweep_evidence.pod_overlay import (
    HEAD_CONTAINER,
    WORKER_CONTAINER,
    PodTemplateOverlay,
    owned_violations,
)
from tunesweep_evidence.spec import Accelerator

Number = TypeVar("Number", int, float)


class SettingsError(ValueError):
    """An environment variable the operator cannot use; the message names it."""


@dataclass(frozen=True)
class OperatorSettings:
    trainer_images: Mapping[Accelerator, str] = field(default_factory=dict)
    operator_image: str = ""
    namespaces: tuple[str, ...] = ()
    """Empty: not configured; ("*",): all namespaces."""
    default_evidence_uri: str = ""
    evidence_allowed_prefixes: tuple[str, ...] = ()
    """As configured; empty: derived from default_evidence_uri (see `allowed_evidence_prefixes`)."""
    file_evidence_volume: Mapping[str, Any] | None = None
    file_evidence_path: str = "/evidence"
    ray_service_account: str = ""
    head_cpu: str = "1"
    head_memory: str = "2Gi"
    progress_interval_seconds: float = 10.0
    rayjob_backoff_limit: int = 2
    deadline_slack_seconds: int = 900
    head_pod_template: PodTemplateOverlay | None = None
    worker_pod_template: PodTemplateOverlay | None = None
    ray_auth: bool = True
    """Ray token auth on every Ray cluster (a per-sweep token Secret); TUNESWEEP_RAY_AUTH=disabled: off."""
    ray_network_policy: tuple[Mapping[str, Any], ...] | None = None
    """TUNESWEEP_RAY_NETWORK_POLICY, JSON `{"peers": [NetworkPolicyPeer, ...]}`: a NetworkPolicy per
    sweep admitting its own Pods and these peers (the operator, KubeRay); unset: no policy."""

    def allowed_evidence_prefixes(self) -> tuple[str, ...] | None:
        """The prefixes evidence may go under (`{namespace}` not yet replaced); None: anywhere."""
        if self.evidence_allowed_prefixes:
            return self.evidence_allowed_prefixes
        if self.default_evidence_uri:
            return (f"{self.default_evidence_uri.rstrip('/')}/{evidence_uri.NAMESPACE}/",)
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        env = os.environ if environ is None else environ
        _check_signing_key(env)
        images = {
            Accelerator.none: env.get("TUNESWEEP_TRAINER_IMAGE_CPU", ""),
            Accelerator.nvidia_gpu: env.get("TUNESWEEP_TRAINER_IMAGE_CUDA", ""),
            Accelerator.google_tpu: env.get("TUNESWEEP_TRAINER_IMAGE_TPU", ""),
        }
        namespaces = tuple(n.strip() for n in env.get("TUNESWEEP_NAMESPACES", "").split(",") if n.strip())
        file_evidence_volume = _json_object(env, "TUNESWEEP_FILE_EVIDENCE_VOLUME")
        file_evidence_path = env.get("TUNESWEEP_FILE_EVIDENCE_PATH", "/evidence").rstrip("/") or "/"
        mounted = (file_evidence_path,) if file_evidence_volume is not None else ()
        return cls(
            trainer_images={k: v for k, v in images.items() if v},
            operator_image=env.get("TUNESWEEP_OPERATOR_IMAGE", ""),
            namespaces=namespaces,
            default_evidence_uri=_evidence_uri(env, "TUNESWEEP_EVIDENCE_URI"),
            evidence_allowed_prefixes=_prefixes(env, "TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES"),
            file_evidence_volume=file_evidence_volume,
            file_evidence_path=file_evidence_path,
            ray_service_account=env.get("TUNESWEEP_RAY_SERVICE_ACCOUNT", ""),
            head_cpu=env.get("TUNESWEEP_HEAD_CPU", "1"),
            head_memory=env.get("TUNESWEEP_HEAD_MEMORY", "2Gi"),
            progress_interval_seconds=_number(env, "TUNESWEEP_PROGRESS_INTERVAL_SECONDS", 10.0, float),
            rayjob_backoff_limit=_number(env, "TUNESWEEP_RAYJOB_BACKOFF_LIMIT", 2, int),
            deadline_slack_seconds=_number(env, "TUNESWEEP_DEADLINE_SLACK_SECONDS", 900, int),
            head_pod_template=_overlay(env, "TUNESWEEP_HEAD_POD_TEMPLATE", HEAD_CONTAINER, mounted),
            worker_pod_template=_overlay(env, "TUNESWEEP_WORKER_POD_TEMPLATE", WORKER_CONTAINER, mounted),
            ray_auth=_ray_auth(env),
            ray_network_policy=_network_policy_peers(env),
        )


def _check_signing_key(env: Mapping[str, str]) -> None:
    """Promotion reads the key named by TUNESWEEP_EVIDENCE_SIGNING_KEY itself; a key it could not
    read stops the operator at start rather than a sweep at its promotion."""
    path = env.get(digests.SIGNING_KEY_ENV, "")
    if path:
        try:
            digests.read_key(path, digests.SIGNING_KEY_ENV)
        except digests.SigningKeyError as error:
            raise SettingsError(str(error)) from None


def _ray_auth(env: Mapping[str, str]) -> bool:
    raw = env.get("TUNESWEEP_RAY_AUTH", "").strip().lower()
    if raw not in ("", "token", "disabled"):
        raise SettingsError(f"TUNESWEEP_RAY_AUTH={raw!r} must be token or disabled")
    return raw != "disabled"


def _network_policy_peers(env: Mapping[str, str]) -> tuple[Mapping[str, Any], ...] | None:
    name = "TUNESWEEP_RAY_NETWORK_POLICY"
    parsed = _json(env, name)
    if parsed is None:
        return None
    raw, value = parsed
    peers = value.get("peers") if isinstance(value, dict) else None
    if not isinstance(peers, list) or not all(isinstance(p, dict) and p for p in peers):
        wanted = '{"peers": [NetworkPolicyPeer, ...]}'
        raise SettingsError(f"{name} must be {wanted}; got {raw}")
    return tuple(peers)


def _evidence_uri(env: Mapping[str, str], name: str) -> str:
    uri = env.get(name, "").strip()
    problems = evidence_uri.problems(uri) if uri else []
    if problems:
        raise SettingsError(f"{name}={uri!r} is not a usable evidence URI: {'; '.join(problems)}")
    return uri


def _prefixes(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    prefixes = tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())
    problems = evidence_uri.prefix_problems(prefixes)
    if problems:
        raise SettingsError(f"{name} holds prefixes the operator cannot use: {'; '.join(problems)}")
    return prefixes


def _json(env: Mapping[str, str], name: str) -> tuple[str, Any] | None:
    """(text, JSON value) of `name`; None when it is unset or empty."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return raw, json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} is not JSON: {exc}") from None


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any] | None:
    parsed = _json(env, name)
    if parsed is None:
        return None
    raw, value = parsed
    if not isinstance(value, dict) or len(value) != 1:
        raise SettingsError(
            f"{name} must be one pod volume source, e.g. "
            '{"persistentVolumeClaim": {"claimName": "evidence"}}; got ' + raw
        )
    return value


def _overlay(
    env: Mapping[str, str], name: str, container: str, reserved_mounts: tuple[str, ...]
) -> PodTemplateOverlay | None:
    """The overlay in `name`, refused here (at start) if it sets what the operator always sets."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        overlay = PodTemplateOverlay.model_validate_json(raw)
    except ValidationError as exc:
        problems = _described((tuple(e["loc"]), e["msg"]) for e in exc.errors())
        raise SettingsError(f"{name} is not a Pod-template overlay: {problems}") from None
    violations = owned_violations(overlay, container, reserved_mounts=reserved_mounts)
    if violations:
        problems = _described((v.field, v.message) for v in violations)
        raise SettingsError(f"{name} sets what the operator sets: {problems}")
    return overlay


def _described(problems: Iterable[tuple[tuple[str | int, ...], str]]) -> str:
    return "; ".join(f"{'.'.join(map(str, where))}: {message}" for where, message in problems)


def _number(env: Mapping[str, str], name: str, default: Number, kind: type[Number]) -> Number:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must not be negative")
    return value
