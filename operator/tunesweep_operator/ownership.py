"""Owner references between a sweep and what it made (RayJob, ConfigMap)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunesweep_evidence.spec import API_VERSION, KIND, TuningSweep


@dataclass(frozen=True)
class SweepRef:
    namespace: str
    name: str
    uid: str


def owner_reference(sweep: TuningSweep) -> dict[str, Any]:
    """The sweep as controller: its children go with it (garbage collection), and block its
    foreground deletion until they are gone."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": sweep.metadata.name,
        "uid": sweep.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlling_sweep(obj: dict[str, Any]) -> SweepRef | None:
    """The TuningSweep that controls `obj`, if any."""
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == KIND and ref.get("apiVersion") == API_VERSION:
            return SweepRef(meta.get("namespace", ""), ref["name"], ref["uid"])
    return None


def owned_by(obj: dict[str, Any], sweep_uid: str) -> bool:
    ref = controlling_sweep(obj)
    return ref is not None and ref.uid == sweep_uid
