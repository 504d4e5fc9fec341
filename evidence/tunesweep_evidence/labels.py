"""Kubernetes label grammar for the node selectors and tolerations that a spec or a Pod overlay sets.

One pattern per fact, shared by pydantic (`tunesweep validate`, the operator) and the CRD's CEL
rules, so that the API server refuses the same keys and values.
"""

from __future__ import annotations

import re

from .evidence_uri import cel_matches
from .spec_rules import Rule

DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LABEL_KEY = rf"^({DNS_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?$"
"""A Kubernetes label key: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63."""
OPTIONAL_LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
"""A Kubernetes label value: at most 63, or empty."""
LABEL_VALUE_MEANING = (
    "a Kubernetes label value: at most 63 letters, digits, '-', '_' and '.', starting and ending "
    "with a letter or digit, or empty"
)
LABEL_KEY_MESSAGE = (
    "{what} must be Kubernetes label keys: an optional DNS subdomain prefix and '/', then a name of at "
    "most 63 letters, digits, '-', '_' and '.' starting and ending with a letter or digit, e.g. "
    "cloud.google.com/gke-spot"
)


def is_label_key(key: str) -> bool:
    prefix, _, _ = key.rpartition("/")
    return len(prefix) <= 253 and re.search(LABEL_KEY, key) is not None


# Rules for a model with `node_selector` (a mapping) and `tolerations` (of Toleration), either absent.
NODE_SELECTOR_AND_TOLERATION_KEYS = (
    Rule(
        LABEL_KEY_MESSAGE.format(what="nodeSelector keys"),
        lambda m: all(is_label_key(key) for key in m.node_selector or {}),
        cel=f"!has(self.nodeSelector) || self.nodeSelector.all(k, {cel_matches(LABEL_KEY, 'k')})",
        field=("nodeSelector",),
    ),
    Rule(
        LABEL_KEY_MESSAGE.format(what="toleration keys"),
        lambda m: all(t.key is None or is_label_key(t.key) for t in m.tolerations or ()),
        cel=(
            "!has(self.tolerations) || "
            f"self.tolerations.all(t, !has(t.key) || {cel_matches(LABEL_KEY, 't.key')})"
        ),
        field=("tolerations",),
    ),
)
