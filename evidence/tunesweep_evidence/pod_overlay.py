"""Pod-template overlays: what users add to the Ray head and worker Pods the operator renders.

An overlay (`PodTemplateOverlay`) holds only what clusters need around the operator's Pods (pull
secrets, scheduling, metadata, security contexts, extra volumes and env); fields it does not know,
such as a container's command, image or ports, are refused. `owned_violations` refuses what the
operator sets itself, so an overlay can never override it.

`merge_pod_template` applies an overlay with strategic-merge semantics:
- maps merge recursively; the overlay's scalars win; a null or absent value changes nothing;
- lists with a Kubernetes merge key merge by it: `containers` by name (matching entries merge field by
  field, so an overlay adds to the operator's container); `env`, `volumes`, `imagePullSecrets` by
  name and `volumeMounts` by mountPath, where a matching entry is replaced whole (an env var or a
  volume has one source); entries with a new key are appended;
- `tolerations` and `topologySpreadConstraints` gain the entries they lack (the operator's
  accelerator toleration stays);
- any other list is replaced.
Overlays apply in sequence (the chart's, then the sweep's): `merge(merge(base, a), b)`; for overlays
the model accepts, merging them first, `merge(base, merge(a, b))`, gives the same Pod.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from ._model import WireModel
from .labels import NODE_SELECTOR_AND_TOLERATION_KEYS, OPTIONAL_LABEL_VALUE
from .quantity import parse_quantity
from .spec_rules import FieldPath, Rule, RuleModel, Violation
from .tpu import GKE_TPU_ACCELERATOR, GKE_TPU_TOPOLOGY

HEAD_CONTAINER = "ray-head"
"""The Ray container of the head Pod: the one container a head overlay may name."""
WORKER_CONTAINER = "ray-worker"
"""The Ray container of a worker Pod: the one container a worker overlay may name."""

CREDENTIALS_VOLUME = "evidence-credentials"
"""The operator's volume of the evidence Secret (gs://), mounted at CREDENTIALS_DIR."""
CREDENTIALS_DIR = "/var/run/secrets/tunesweep/evidence"
"""Where the evidence Secret is mounted (gs://: its key.json; s3://: one file per AWS_* key)."""
RAY_AUTH_VOLUME = "tunesweep-ray-auth"
"""The operator's volume of the sweep's Ray auth token Secret, mounted at RAY_AUTH_DIR."""
RAY_AUTH_DIR = "/var/run/secrets/tunesweep/ray-auth"
CHECKPOINT_CACHE_DIR = "/var/cache/tunesweep/checkpoints"
"""Where the operator mounts the trial Pods' emptyDir for bucket checkpoints (TUNESWEEP_CHECKPOINT_CACHE)."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
"""The operator's children carry it; its RayJob watch selects on it."""

OWNED_RESOURCES = ("cpu", "memory", "nvidia.com/gpu", "google.com/tpu")
OWNED_ENV_PREFIXES = ("TUNESWEEP_", "RAY_", "AWS_", "GOOGLE_")
OWNED_ENV = ("JAX_PLATFORMS",)
COMPILE_CACHE_VOLUME = "compile-cache"
OWNED_VOLUMES = ("evidence", CREDENTIALS_VOLUME, RAY_AUTH_VOLUME, COMPILE_CACHE_VOLUME)
OWNED_MOUNTS = (CREDENTIALS_DIR, RAY_AUTH_DIR, CHECKPOINT_CACHE_DIR)
OWNED_LABELS = (MANAGED_BY_LABEL,)
OWNED_NODE_SELECTOR = (GKE_TPU_ACCELERATOR, GKE_TPU_TOPOLOGY)
OWNED_VOLUME_PREFIX = "tunesweep-"
OWNED_LABEL_PREFIX = "tunesweep.dev/"

MERGE_KEYS = {
    "containers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
"""Kubernetes' patch merge keys of the lists an overlay can hold."""
MERGED_ENTRIES = frozenset({"containers"})
"""Keyed lists whose matching entries merge field by field; the others' are replaced whole."""
APPENDED = frozenset({"tolerations", "topologySpreadConstraints"})


def _number_as_text(value: Any) -> Any:
    # YAML `ephemeral-storage: 10` is a number; Kubernetes quantities are int-or-string.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _quantity(text: str) -> str:
    parse_quantity(text)
    return text


def _unique(key: str) -> Callable[[list[Any]], list[Any]]:
    """A list validator refusing two entries with the same `key`, as the API server's list-map does."""

    def check(entries: list[Any]) -> list[Any]:
        seen: set[Any] = set()
        for entry in entries:
            value = getattr(entry, key)
            if value in seen:
                raise ValueError(f"two entries with {key} {value!r}: give each once")
            seen.add(value)
        return entries

    return check


def _list_map(key: str) -> dict[str, Any]:
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}


_BY_NAME = AfterValidator(_unique("name"))
_BY_MOUNT_PATH = AfterValidator(_unique("mount_path"))


Quantity = Annotated[
    str,
    BeforeValidator(_number_as_text),
    AfterValidator(_quantity),
    Field(max_length=64, json_schema_extra={"x-kubernetes-int-or-string": True}),
]
"""A Kubernetes quantity: `10Gi`, `500m`, `4`."""
Name = Annotated[str, Field(min_length=1, max_length=253)]
FreeForm = dict[str, Any]
"""A Kubernetes object the overlay passes on as it is (the API server checks the Pod)."""


class PodMetadataOverlay(WireModel):
    """Labels and annotations added to the Pods."""

    labels: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(None, max_length=64)
    annotations: dict[str, Annotated[str, Field(max_length=8192)]] | None = Field(None, max_length=64)
    """E.g. `sidecar.istio.io/inject: "false"`."""


class LocalObjectReference(WireModel):
    name: Name


class Toleration(WireModel):
    """A Kubernetes toleration."""

    key: str | None = Field(None, max_length=317)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class VolumeOverlay(RuleModel):
    """A Pod volume: its name and one volume source, e.g. `{name: scratch, emptyDir: {}}`."""

    model_config = ConfigDict(extra="allow")
    name: Name

    rules = (
        Rule(
            "give exactly one volume source besides name, e.g. {name: scratch, emptyDir: {}}",
            lambda v: (
                len(v.model_extra or {}) == 1
                and all(isinstance(s, dict) for s in (v.model_extra or {}).values())
            ),
            cel=None,
            server="none: the API server checks the Pod when KubeRay creates it",
        ),
    )


class EnvVar(RuleModel):
    """An environment variable: a value, or a source (`valueFrom`, e.g. a secretKeyRef)."""

    name: Name
    value: str | None = Field(None, max_length=32768)
    value_from: FreeForm | None = None

    rules = (
        Rule(
            "give value or valueFrom, not both",
            lambda e: e.value is None or e.value_from is None,
            cel="!has(self.value) || !has(self.valueFrom)",
        ),
    )


class VolumeMount(WireModel):
    name: Name
    """A volume of the Pod: one of the overlay's `volumes`."""
    mount_path: str = Field(min_length=1, max_length=4096)
    read_only: bool | None = None
    sub_path: str | None = Field(None, max_length=4096)


class ResourcesOverlay(WireModel):
    """More resources of the container, e.g. `ephemeral-storage`; cpu, memory and accelerators come
    from resources.perTrial (workers) and the chart (head)."""

    requests: dict[str, Quantity] | None = Field(None, max_length=16)
    limits: dict[str, Quantity] | None = Field(None, max_length=16)


class ContainerOverlay(WireModel):
    """Additions to the operator's Ray container, which `name` picks."""

    name: Name
    """`ray-head` in the head's overlay, `ray-worker` in the workers'."""
    resources: ResourcesOverlay | None = None
    security_context: FreeForm | None = None
    env: Annotated[list[EnvVar], _BY_NAME] | None = Field(
        None, max_length=64, json_schema_extra=_list_map("name")
    )
    volume_mounts: Annotated[list[VolumeMount], _BY_MOUNT_PATH] | None = Field(
        None, max_length=32, json_schema_extra=_list_map("mountPath")
    )


class PodSpecOverlay(RuleModel):
    """Additions to the Pod spec."""

    rules = NODE_SELECTOR_AND_TOLERATION_KEYS

    image_pull_secrets: Annotated[list[LocalObjectReference], _BY_NAME] | None = Field(
        None, max_length=16, json_schema_extra=_list_map("name")
    )
    priority_class_name: str | None = Field(None, max_length=253)
    affinity: FreeForm | None = None
    topology_spread_constraints: list[FreeForm] | None = Field(None, max_length=16)
    """Added to the operator's."""
    node_selector: dict[str, Annotated[str, Field(max_length=63, pattern=OPTIONAL_LABEL_VALUE)]] | None = (
        Field(None, max_length=32)
    )
    tolerations: list[Toleration] | None = Field(None, max_length=32)
    """Added to the operator's (it tolerates the accelerator's taint)."""
    security_context: FreeForm | None = None
    """The Pod's securityContext."""
    scheduler_name: str | None = Field(None, max_length=253)
    runtime_class_name: str | None = Field(None, max_length=253)
    volumes: Annotated[list[VolumeOverlay], _BY_NAME] | None = Field(
        None, max_length=32, json_schema_extra=_list_map("name")
    )
    """Mount them with containers[].volumeMounts."""
    containers: Annotated[list[ContainerOverlay], _BY_NAME] | None = Field(
        None, max_length=4, json_schema_extra=_list_map("name")
    )


class PodTemplateOverlay(WireModel):
    """Merged into the Ray Pods' template (strategic merge); what the operator sets is refused."""

    metadata: PodMetadataOverlay | None = None
    spec: PodSpecOverlay | None = None


def owned_violations(
    overlay: PodTemplateOverlay,
    container_name: str,
    *,
    reserved_env: Collection[str] = (),
    reserved_mounts: Collection[str] = (),
    reserved_volumes: Collection[str] = (),
    reserved_labels: Collection[str] = (),
    reserved_node_selector: Collection[str] = (),
) -> list[Violation]:
    """What `overlay` may not set because the operator sets it, with field paths relative to the overlay.

    Always refused: containers other than `container_name`; cpu, memory and accelerator resources;
    env named TUNESWEEP_*, RAY_*, AWS_*, GOOGLE_* or JAX_PLATFORMS; volumes named `evidence`,
    `evidence-credentials`, `compile-cache` or tunesweep-* and mounts at or below the credentials,
    Ray-token and checkpoint-cache folders; labels tunesweep.dev/* and app.kubernetes.io/managed-by;
    GKE's TPU nodeSelector keys.
    The caller adds what only it knows (e.g. the file-evidence mount path of its settings).
    """
    found: list[Violation] = []
    if overlay.metadata is not None:
        for key in overlay.metadata.labels or {}:
            if key.startswith(OWNED_LABEL_PREFIX) or key in (*OWNED_LABELS, *reserved_labels):
                found.append(
                    Violation(
                        ("metadata", "labels", key),
                        f"label {key} is set by the operator: use another key (none under "
                        f"{OWNED_LABEL_PREFIX})",
                    )
                )
    spec = overlay.spec
    if spec is None:
        return found
    for key in spec.node_selector or {}:
        if key in (*OWNED_NODE_SELECTOR, *reserved_node_selector):
            found.append(
                Violation(
                    ("spec", "nodeSelector", key),
                    f"nodeSelector {key} is set by the operator from the sweep's resources: set it there",
                )
            )
    owned_volumes = {*OWNED_VOLUMES, *reserved_volumes}
    for index, volume in enumerate(spec.volumes or []):
        if _owned_volume(volume.name, owned_volumes):
            found.append(
                Violation(
                    ("spec", "volumes", index, "name"),
                    f"volume {volume.name} is the operator's; give yours another name "
                    f"(not {', '.join(sorted(owned_volumes))} or {OWNED_VOLUME_PREFIX}*)",
                )
            )
    for index, container in enumerate(spec.containers or []):
        where: FieldPath = ("spec", "containers", index)
        if container.name != container_name:
            found.append(
                Violation(
                    (*where, "name"),
                    f"container {container.name} is not in this Pod: name its Ray container, "
                    f"{container_name}",
                )
            )
        mounts = (*OWNED_MOUNTS, *reserved_mounts)
        found += _container_violations(container, where, reserved_env, mounts, owned_volumes)
    return found


def _container_violations(
    container: ContainerOverlay,
    where: FieldPath,
    reserved_env: Collection[str],
    reserved_mounts: Collection[str],
    owned_volumes: Collection[str],
) -> list[Violation]:
    found: list[Violation] = []
    resources = container.resources or ResourcesOverlay()
    for kind, quantities in (("requests", resources.requests), ("limits", resources.limits)):
        for key in quantities or {}:
            if key in OWNED_RESOURCES:
                found.append(
                    Violation(
                        (*where, "resources", kind, key),
                        f"resources.{kind}.{key} is set by the operator: set resources.perTrial instead "
                        "(the head's cpu and memory: the chart's ray.headCpu and ray.headMemory)",
                    )
                )
    for index, env in enumerate(container.env or []):
        if env.name.startswith(OWNED_ENV_PREFIXES) or env.name in OWNED_ENV or env.name in reserved_env:
            found.append(
                Violation(
                    (*where, "env", index, "name"),
                    f"env {env.name} is set by the operator; names {', '.join(OWNED_ENV)} and "
                    f"{', '.join(p + '*' for p in OWNED_ENV_PREFIXES)} are its own: use another name",
                )
            )
    for index, mount in enumerate(container.volume_mounts or []):
        if _owned_volume(mount.name, owned_volumes):
            found.append(
                Violation(
                    (*where, "volumeMounts", index, "name"),
                    f"volume {mount.name} is the operator's: mount a volume of your own",
                )
            )
        path = mount.mount_path.rstrip("/") or "/"
        for reserved in reserved_mounts:
            if _at_or_below(path, reserved):
                found.append(
                    Violation(
                        (*where, "volumeMounts", index, "mountPath"),
                        f"the operator mounts its own volume at {reserved}: mount yours elsewhere",
                    )
                )
    return found


def _owned_volume(name: str, owned: Collection[str]) -> bool:
    return name in owned or name.startswith(OWNED_VOLUME_PREFIX)


def _at_or_below(path: str, parent: str) -> bool:
    parent = parent.rstrip("/") or "/"
    return path == parent or path.startswith(parent if parent == "/" else parent + "/")


def merge_pod_template(
    base: Mapping[str, Any], overlay: PodTemplateOverlay | Mapping[str, Any] | None
) -> dict[str, Any]:
    """`base` (a Pod template, or an overlay as a dict) with `overlay` merged in; neither is changed."""
    if overlay is None:
        return copy.deepcopy(dict(base))
    if isinstance(overlay, PodTemplateOverlay):
        overlay = overlay.model_dump(mode="json", by_alias=True, exclude_none=True)
    return _merge_maps(base, overlay)


def _merge_maps(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if value is not None:
            merged[key] = _merge_value(key, merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


def _merge_value(key: str, old: Any, new: Any) -> Any:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return _merge_maps(old, new)
    if isinstance(old, list) and isinstance(new, list):
        if key in MERGE_KEYS:
            return _merge_by_key(old, new, MERGE_KEYS[key], merge_entries=key in MERGED_ENTRIES)
        if key in APPENDED:
            return _append_missing(old, new)
    return copy.deepcopy(new)


def _merge_by_key(old: Sequence[Any], new: Sequence[Any], key: str, *, merge_entries: bool) -> list[Any]:
    merged = [copy.deepcopy(entry) for entry in old]
    for entry in new:
        wanted = _key_of(entry, key)
        at = next((i for i, e in enumerate(merged) if wanted is not None and _key_of(e, key) == wanted), None)
        if at is None:
            merged.append(copy.deepcopy(entry))
        else:
            merged[at] = _merge_maps(merged[at], entry) if merge_entries else copy.deepcopy(entry)
    return merged


def _key_of(entry: Any, key: str) -> Any:
    return entry.get(key) if isinstance(entry, Mapping) else None


def _append_missing(old: Sequence[Any], new: Sequence[Any]) -> list[Any]:
    merged = [copy.deepcopy(entry) for entry in old]
    for entry in new:
        if entry not in merged:
            merged.append(copy.deepcopy(entry))
    return merged
