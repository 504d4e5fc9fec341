"""Checks beyond the CRD schema, run before anything is written. Pure.

The API server accepted the object, yet the spec can still be unusable: `parse_sweep` runs the spec
models' own rules (a search-space path that is not in the base config, a shape the placement model
refuses, ...), `problems` what only the operator knows (no image to run, evidence outside the shared
volume or outside the prefixes allowed for the sweep's namespace, a derived name Kubernetes would
refuse).
Every problem is listed so the user can fix them all at once.
"""

from __future__ import annotations

from typing import Any

from tunesweep_evidence import evidence_uri as uris
from tunesweep_evidence import layout, sweep_manifest
from tunesweep_evidence.pod_overlay import HEAD_CONTAINER, WORKER_CONTAINER, owned_violations
from tunesweep_evidence.spec import TuningSweep

from . import names
from .defaults import MissingDefault, evidence_uri, trainer_image
from .settings import OperatorSettings

SCHEMES = ("file", "s3", "gs")


class InvalidSweep(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_sweep(body: dict[str, Any]) -> TuningSweep:
    """The TuningSweep model of a kopf body, with the spec's own rules checked."""
    try:
        return sweep_manifest.parse_sweep(body)
    except sweep_manifest.SpecError as error:
        lines = [f"{p.path}: {p.message}" if p.path else p.message for p in error.problems]
        raise InvalidSweep(lines) from None


def problems(sweep: TuningSweep, settings: OperatorSettings) -> list[str]:
    spec = sweep.spec
    found: list[str] = []
    for check in (trainer_image, evidence_uri):
        try:
            check(spec, settings)
        except MissingDefault as error:
            found.append(str(error))
    found += _evidence_location(sweep, settings)
    found += _warm_start_locations(sweep, settings)
    found += _derived_names(sweep)
    found += _overlays(sweep, settings)
    return found


def _evidence_location(sweep: TuningSweep, settings: OperatorSettings) -> list[str]:
    try:
        uri = evidence_uri(sweep.spec, settings)
    except MissingDefault:
        return []  # already reported
    scheme, _, path = uri.partition("://") if "://" in uri else ("file", "", uri)
    if scheme not in SCHEMES:
        return [f"evidence.uri {uri!r}: unsupported scheme {scheme!r} (use file://, s3:// or gs://)"]
    if scheme == "file" and _off_the_shared_volume(path, settings):
        return [
            f"evidence.uri {uri!r} is not below {settings.file_evidence_path}, the volume the "
            "operator shares with the Ray pods"
        ]
    return _evidence_allowed(sweep, uri, settings)


def _off_the_shared_volume(path: str, settings: OperatorSettings) -> bool:
    """Whether a file:// path lies outside the volume the operator shares with the Ray pods (False
    without such a volume: nothing to be below)."""
    if settings.file_evidence_volume is None:
        return False
    return not (path.rstrip("/") + "/").startswith(settings.file_evidence_path.rstrip("/") + "/")


def unshared_file_evidence(uri: str, settings: OperatorSettings) -> str | None:
    """Why `file://` evidence cannot work on this cluster (None: it can): with no volume shared with
    the Ray pods, the operator would write plan.json on its own disk and each Ray pod into its own."""
    if not uri.startswith("file://") or settings.file_evidence_volume is not None:
        return None
    if settings.file_evidence_node_local:
        return None
    return (
        f"evidence.uri {uri!r} is a file:// location, but the operator has no volume it shares with the "
        "Ray pods, so each pod would write its evidence into its own filesystem: use s3:// or gs:// "
        "evidence (spec.evidence.uri, or the chart's evidence.defaultUri), or install the chart with a "
        "shared volume, evidence.fileVolume (e.g. a ReadWriteMany persistentVolumeClaim), and file:// "
        "evidence below evidence.filePath"
    )


def _evidence_allowed(sweep: TuningSweep, uri: str, settings: OperatorSettings) -> list[str]:
    """The sweep's evidence folder (`<uri>/<namespace>/<name>/<uid>`, all the operator writes) must
    lie under a prefix the settings allow for its namespace."""
    prefixes = settings.allowed_evidence_prefixes()
    if prefixes is None:
        return []
    meta = sweep.metadata
    unusable = uris.problems(uri)
    if unusable:  # a default the spec model has not seen
        return [f"spec.evidence.uri: {'; '.join(unusable)} (got {uri!r})"]
    try:
        folder = layout.sweep_root(uri, meta.namespace, meta.name, meta.uid or "uid")
        refusal = uris.allowed(folder, meta.namespace, prefixes)
    except ValueError as error:  # a default URI without a usable prefix
        return [f"spec.evidence.uri: the operator's evidence prefixes are not usable: {error}"]
    if refusal is None:
        return []
    return [f"spec.{'.'.join(map(str, refusal.field))}: the sweep's evidence folder {refusal.message}"]


def _warm_start_locations(sweep: TuningSweep, settings: OperatorSettings) -> list[str]:
    """A warmStart evidenceURI is read by this sweep's Ray pods: it must lie where this namespace's
    evidence may (the allowed prefixes), so that no tenant reads another's results through a shared
    bucket or volume. A named sweep is of this namespace already."""
    prefixes = settings.allowed_evidence_prefixes()
    namespace = sweep.metadata.namespace
    found = []
    for index, source in enumerate(sweep.spec.warm_start or []):
        uri = source.evidence_uri
        if uri is None:
            continue
        field = f"spec.warmStart[{index}].evidenceURI"
        if uri.startswith("file://") and _off_the_shared_volume(uri.removeprefix("file://"), settings):
            found.append(
                f"{field}: {uri!r} is not below {settings.file_evidence_path}, the volume the operator "
                "shares with the Ray pods, so they cannot read it"
            )
            continue
        if prefixes is not None:
            allowed = uris.expand(prefixes, namespace)
            if not any(uris.is_under(uri, prefix) for prefix in allowed):
                found.append(
                    f"{field}: {uris.normalise(uri)} is not under an evidence prefix the operator allows "
                    f"for namespace {namespace}: {', '.join(allowed) or '(none)'}; warm-start from a sweep "
                    "of this namespace (warmStart[].sweep), or from evidence below one of those prefixes"
                )
    return found


def _derived_names(sweep: TuningSweep) -> list[str]:
    configured = sweep.spec.promotion.config_map_name
    name = names.config_map_name(sweep.metadata.name, configured)
    if configured or len(name) <= names.OBJECT_NAME_MAX:
        return []
    return [
        f"promotion.configMapName: the default ConfigMap name {name[:40]}... is {len(name)} characters, "
        f"more than Kubernetes allows ({names.OBJECT_NAME_MAX}); set promotion.configMapName"
    ]


def _overlays(sweep: TuningSweep, settings: OperatorSettings) -> list[str]:
    """What the spec models cannot know: the operator's volumes (file evidence, compile cache) are
    mounted where settings say."""
    mounted = settings.mounted_paths()
    if not mounted:
        return []
    resources, found = sweep.spec.resources, []
    for field, overlay, container in (
        ("headPodTemplate", resources.head_pod_template, HEAD_CONTAINER),
        ("workerPodTemplate", resources.worker_pod_template, WORKER_CONTAINER),
    ):
        if overlay is not None:
            violations = owned_violations(overlay, container, reserved_mounts=mounted)
            found += [f"resources.{field}.{'.'.join(map(str, v.field))}: {v.message}" for v in violations]
    return found
