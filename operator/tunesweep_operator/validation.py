"""Checks beyond the CRD schema, run before anything is written. Pure.

The API server accepted the object, yet the spec can still be unusable: a search-space path that is
not in the base config, a TPU topology the operator cannot place, no image to run. Every problem
is listed so the user can fix them all at once.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from tunesweep_evidence.spec import Accelerator, TuningSweep

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
    """The TuningSweep model of a kopf body (status and kopf's bookkeeping left out)."""
    try:
        return TuningSweep.model_validate(
            {
                "apiVersion": body.get("apiVersion"),
                "kind": body.get("kind"),
                "metadata": dict(body.get("metadata") or {}),
                "spec": dict(body.get("spec") or {}),
            }
        )
    except ValidationError as error:
        raise InvalidSweep(
            [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        ) from None


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
    trials = spec.trials
    if trials.count < 1 or trials.parallel < 1 or trials.timeout_seconds < 1:
        found.append("trials.count, trials.parallel and trials.timeoutSeconds must be at least 1")
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
    per_trial = resources.per_trial
    found: list[str] = []
    try:
        cpu_count(per_trial.cpu)
    except ValueError:
        found.append(f"resources.perTrial.cpu {per_trial.cpu!r} is not a CPU quantity (4, 1.5, 500m)")
    if resources.workers.replicas < 0:
        found.append("resources.workers.replicas must not be negative")
    if per_trial.accelerator is Accelerator.nvidia_gpu and per_trial.count < 1:
        found.append("resources.perTrial.count must be at least 1 GPU with nvidia.com/gpu")
    if per_trial.accelerator is Accelerator.google_tpu:
        if resources.tpu is None:
            found.append("resources.tpu (acceleratorType, topology) is required with google.com/tpu")
        else:
            try:
                tpu_slice(resources.tpu.accelerator_type, resources.tpu.topology)
            except TpuTopologyError as error:
                found.append(f"resources.tpu: {error}")
    elif resources.tpu is not None:
        found.append("resources.tpu is set but resources.perTrial.accelerator is not google.com/tpu")
    return found
