"""Deterministic names and labels of what the operator creates for a sweep.

The same sweep always gets the same child names, so a restarted operator or a repeated handler
finds (and adopts) what it made before instead of making a second one. The RayJob name carries a
hash of the sweep's uid: a sweep deleted and re-created under the same name never collides with
the old RayJob while the garbage collector is still removing it.
"""

from __future__ import annotations

import hashlib
import re

from tunesweep_evidence.pod_overlay import MANAGED_BY_LABEL

MANAGED_BY = "tunesweep"
LABEL_MANAGED_BY = MANAGED_BY_LABEL
LABEL_SWEEP = "tunesweep.dev/sweep"
LABEL_SWEEP_UID = "tunesweep.dev/sweep-uid"

# KubeRay names the RayCluster `<rayjob>-<5 chars>` and its Service `<cluster>-head-svc`, which must
# stay a DNS-1035 label (63 chars); KubeRay itself caps RayJob names at 47.
RAYJOB_NAME_MAX = 40
OBJECT_NAME_MAX = 253
"""A DNS-1123 subdomain: ConfigMaps and other named objects."""
_HASH_CHARS = 6


def rayjob_name(sweep_name: str, sweep_uid: str) -> str:
    """`<sanitised sweep name, truncated>-<6 hex of the uid>`: a DNS-1035 label of at most 40 chars."""
    digest = hashlib.sha256(sweep_uid.encode()).hexdigest()[:_HASH_CHARS]
    base = re.sub(r"[^a-z0-9-]+", "-", sweep_name.lower())
    base = base.lstrip("-0123456789")[: RAYJOB_NAME_MAX - _HASH_CHARS - 1].rstrip("-") or "sweep"
    return f"{base}-{digest}"


def ray_auth_secret_name(sweep_name: str, sweep_uid: str) -> str:
    """The Secret holding the sweep's Ray auth token: `<rayjob name>-ray-auth` (uid-hashed, as the RayJob)."""
    return f"{rayjob_name(sweep_name, sweep_uid)}-ray-auth"


def network_policy_name(sweep_name: str, sweep_uid: str) -> str:
    """The NetworkPolicy around the sweep's Ray Pods: `<rayjob name>-ray`."""
    return f"{rayjob_name(sweep_name, sweep_uid)}-ray"


def config_map_name(sweep_name: str, configured: str) -> str:
    """The promoted ConfigMap: `promotion.configMapName`, or `<sweep-name>-best`."""
    return configured or f"{sweep_name}-best"


def child_labels(sweep_name: str, sweep_uid: str) -> dict[str, str]:
    """Labels on everything made for a sweep; the RayJob watch selects on the first one."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_SWEEP: _label_value(sweep_name),
        LABEL_SWEEP_UID: sweep_uid,
    }


def _label_value(value: str) -> str:
    # Object names may be 253 chars with dots; label values stop at 63.
    return value[:63].rstrip("-_.")
