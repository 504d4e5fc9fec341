"""OperatorSettings: what the Helm chart tells the operator, read once from the environment.

Each variable, with its meaning, its Helm value and its default, is listed in `settings_table`
(`tunesweep operator --help` prints it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from tunesweep_evidence import compile_cache_location, digests, evidence_uri
from tunesweep_evidence.pod_overlay import (
    HEAD_CONTAINER,
    WORKER_CONTAINER,
    PodTemplateOverlay,
    owned_violations,
)
from tunesweep_evidence.spec import Accelerator

Number = TypeVar("Number", int, float)

TRAINER_IMAGE_KINDS: Mapping[Accelerator, str] = {
    Accelerator.none: "cpu",
    Accelerator.nvidia_gpu: "cuda",
    Accelerator.google_tpu: "tpu",
}
"""The trainer image's kind per trial accelerator: the Dockerfile's `trainer-<kind>` target, the
chart's `trainer.images.<kind>` and TUNESWEEP_TRAINER_IMAGE_<KIND>."""


def trainer_image_env(accelerator: Accelerator) -> str:
    return f"TUNESWEEP_TRAINER_IMAGE_{TRAINER_IMAGE_KINDS[accelerator].upper()}"


def trainer_image_value(accelerator: Accelerator) -> str:
    return f"trainer.images.{TRAINER_IMAGE_KINDS[accelerator]}"


NODE_LOCAL_ENV = "TUNESWEEP_FILE_EVIDENCE_NODE_LOCAL"
COMPILE_CACHE_LOCATION_ENV = "TUNESWEEP_COMPILE_CACHE_LOCATION"
COMPILE_CACHE_VOLUME_ENV = "TUNESWEEP_COMPILE_CACHE_VOLUME"


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
    file_evidence_node_local: bool = False
    """file:// evidence without a shared volume: the operator and the Ray pods see one filesystem."""
    compile_cache_location: str = ""
    """JAX's compile cache of every trial: an absolute path in the Ray pods or a gs:// URI; "": each
    pod's own (the image's TUNESWEEP_COMPILE_CACHE)."""
    compile_cache_volume: Mapping[str, Any] | None = None
    """A pod volume source the operator mounts at `compile_cache_location` in the Ray pods."""
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

    def mounted_paths(self) -> tuple[str, ...]:
        """Where the operator mounts its volumes in the Ray pods: no overlay may mount there."""
        return _mounted(
            (self.file_evidence_volume, self.file_evidence_path),
            (self.compile_cache_volume, self.compile_cache_location),
        )

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
        defaults = cls()
        _check_signing_key(env)
        images = {
            accelerator: env.get(trainer_image_env(accelerator), "") for accelerator in TRAINER_IMAGE_KINDS
        }
        namespaces = tuple(n.strip() for n in env.get("TUNESWEEP_NAMESPACES", "").split(",") if n.strip())
        file_evidence_volume = _json_object(env, "TUNESWEEP_FILE_EVIDENCE_VOLUME")
        file_evidence_path = (
            env.get("TUNESWEEP_FILE_EVIDENCE_PATH", defaults.file_evidence_path).rstrip("/") or "/"
        )
        compile_cache_location, compile_cache_volume = _compile_cache(env)
        mounted = _mounted(
            (file_evidence_volume, file_evidence_path), (compile_cache_volume, compile_cache_location)
        )
        return cls(
            trainer_images={k: v for k, v in images.items() if v},
            operator_image=env.get("TUNESWEEP_OPERATOR_IMAGE", ""),
            namespaces=namespaces,
            default_evidence_uri=_evidence_uri(env, "TUNESWEEP_EVIDENCE_URI"),
            evidence_allowed_prefixes=_prefixes(env, "TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES"),
            file_evidence_volume=file_evidence_volume,
            file_evidence_path=file_evidence_path,
            file_evidence_node_local=_flag(env, NODE_LOCAL_ENV),
            compile_cache_location=compile_cache_location,
            compile_cache_volume=compile_cache_volume,
            ray_service_account=env.get("TUNESWEEP_RAY_SERVICE_ACCOUNT", ""),
            head_cpu=env.get("TUNESWEEP_HEAD_CPU", defaults.head_cpu),
            head_memory=env.get("TUNESWEEP_HEAD_MEMORY", defaults.head_memory),
            progress_interval_seconds=_number(
                env, "TUNESWEEP_PROGRESS_INTERVAL_SECONDS", defaults.progress_interval_seconds, float
            ),
            rayjob_backoff_limit=_number(
                env, "TUNESWEEP_RAYJOB_BACKOFF_LIMIT", defaults.rayjob_backoff_limit, int
            ),
            deadline_slack_seconds=_number(
                env, "TUNESWEEP_DEADLINE_SLACK_SECONDS", defaults.deadline_slack_seconds, int
            ),
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


def _mounted(*volumes: tuple[Mapping[str, Any] | None, str]) -> tuple[str, ...]:
    return tuple(path for volume, path in volumes if volume is not None)


def _compile_cache(env: Mapping[str, str]) -> tuple[str, dict[str, Any] | None]:
    """The compile cache's location and volume, refused here (at start) where JAX could not use them."""
    location = env.get(COMPILE_CACHE_LOCATION_ENV, "").strip().rstrip("/")
    problem = compile_cache_location.problem(location) if location else None
    if problem:
        raise SettingsError(f"{COMPILE_CACHE_LOCATION_ENV}: {problem}")
    volume = _json_object(env, COMPILE_CACHE_VOLUME_ENV)
    if volume is not None and not location.startswith("/"):
        raise SettingsError(
            f"{COMPILE_CACHE_VOLUME_ENV} is mounted at {COMPILE_CACHE_LOCATION_ENV}, which must then be "
            f"an absolute path; got {location!r}"
        )
    return location, volume


def _ray_auth(env: Mapping[str, str]) -> bool:
    raw = env.get("TUNESWEEP_RAY_AUTH", "").strip().lower()
    if raw not in ("", "token", "disabled"):
        raise SettingsError(f"TUNESWEEP_RAY_AUTH={raw!r} must be token or disabled")
    return raw != "disabled"


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise SettingsError(f"{name}={raw!r} must be true or false")
    return raw == "true"


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
