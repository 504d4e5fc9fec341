"""spec.warmStart's sweep names resolved to evidence folders when the operator freezes the plan, so
that the driver needs no Kubernetes. Pure: the start handler hands in how to read a TuningSweep.

A named sweep must have Succeeded: its status.evidenceURI is then the folder its verified results are
in. One still on its way makes this sweep wait (Pending, retried every progress interval); one that
is missing or Failed refuses it, naming the field and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tunesweep_evidence.documents import WarmStartSourceRef
from tunesweep_evidence.spec import Phase, TuningSweepSpec
from tunesweep_evidence.warm_start import UNRESOLVED, WarmStartError, resolved

from .status import is_final, parse_status

WAITING = "WarmStartPending"
"""The Ready condition's reason while a named sweep has not finished."""


class WarmStartWaiting(Exception):
    """A named sweep has not finished yet; the message says which and what it waits for."""


def resolve(
    spec: TuningSweepSpec, namespace: str, name: str, get_sweep: Callable[[str], Mapping[str, Any] | None]
) -> list[WarmStartSourceRef]:
    """The sweep `namespace/name`'s warm-start sources with their evidence folders; `get_sweep(name)`
    reads a TuningSweep of the namespace (None when there is none). Raises WarmStartWaiting or
    WarmStartError."""

    def locate(field: str, source: str) -> str:
        if source == name:
            raise WarmStartError(UNRESOLVED, f"{field} {source}: a sweep cannot warm-start from itself")
        return sweep_evidence(field, source, namespace, get_sweep(source))

    return resolved(spec, locate)


def sweep_evidence(field: str, name: str, namespace: str, sweep: Mapping[str, Any] | None) -> str:
    """The evidence folder of the TuningSweep `sweep` (named `name` at `field`), once it Succeeded."""
    if sweep is None:
        raise WarmStartError(
            UNRESOLVED,
            f"{field} {name}: no TuningSweep {name} in namespace {namespace}; name a sweep of this "
            f"namespace, or give its evidence folder as {_uri_field(field)}",
        )
    current = parse_status(sweep.get("status"))
    if current.phase is Phase.succeeded and current.evidence_uri:
        return current.evidence_uri
    if is_final(current):
        raise WarmStartError(
            UNRESOLVED,
            f"{field} {name}: TuningSweep {name} ended {current.phase.value}, so its results are not "
            f"verified; name a Succeeded sweep, or give an evidence folder as {_uri_field(field)}",
        )
    raise WarmStartWaiting(
        f"{field} {name}: waiting for TuningSweep {name} (phase {current.phase.value}) to succeed; "
        "this sweep starts once it has"
    )


def _uri_field(field: str) -> str:
    return f"{field.rpartition('.')[0]}.evidenceURI"
