"""Checks beyond the CRD schema, run before anything is written. Pure.

The API server accepted the object, yet the spec can still be unusable: `parse_sweep` runs the spec
models' own rules (a search-space path that is not in the base config, ...), `problems` what only the
operator knows (a TPU slice it cannot place, no image to run, evidence outside the shared volume).
Every problem is listed so the user can fix them all at once.
"""

from __future__ import annotations

from typing import Any

from tunesweep_evidence import sweep_manifest
from tunesweep_evidence.spec import TuningSweep

from .defaults import MissingDefault, evidence_uri, trainer_image
from .rayjob import cpu_count
from .settings import OperatorSettings
from .tpu import TpuTopologyError, tpu_slice

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
    found += _resources(sweep)
    return found


def _evidence_location(sweep: TuningSweep, settings: OperatorSettings) -> list[str]:
    try:
        uri = evidence_uri(sweep.spec, settings)
    except MissingDefault:
        return []  # already reported
    scheme, _, path = uri.partition("://") if "://" in uri else ("file", "", uri)
    if scheme not in SCHEMES:
        return [f"evidence.uri {uri!r}: unsupported scheme {scheme!r} (use file://, s3:// or gs://)"]
    if scheme == "file" and settings.file_evidence_volume is not None:
        root = settings.file_evidence_path.rstrip("/") + "/"
        if not (path.rstrip("/") + "/").startswith(root):
            return [
                f"evidence.uri {uri!r} is not below {settings.file_evidence_path}, the volume the "
                "operator shares with the Ray pods"
            ]
    return []


def _resources(sweep: TuningSweep) -> list[str]:
    resources = sweep.spec.resources
    found: list[str] = []
    try:
        cpu_count(resources.per_trial.cpu)
    except ValueError:
        cpu = resources.per_trial.cpu
        found.append(f"resources.perTrial.cpu {cpu!r}: use cores (4, 1.5) or millicores (500m)")
    if resources.tpu is not None:
        try:
            tpu_slice(resources.tpu.accelerator_type, resources.tpu.topology)
        except TpuTopologyError as error:
            found.append(f"resources.tpu: {error}")
    return found
