"""A container's environment as the kubelet resolves it: ``envFrom``, then ``env`` in order.

``value`` with ``$(VAR)`` expansion (``$$`` is ``$``; unknown names are kept), ``secretKeyRef`` and
``configMapKeyRef`` (``optional`` honoured), ``fieldRef`` (the Pod's name, namespace, uid, labels and
annotations, node, service account, IPs) and ``resourceFieldRef`` (the container's limits and requests,
in the divisor's units). A required Secret or ConfigMap, or key, that is missing raises
:class:`EnvResolutionError`, whose message is the kubelet's: the container cannot be created yet.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client.rest import ApiException
from tunesweep_evidence.quantity import parse_quantity


class EnvResolutionError(Exception):
    """A Secret, ConfigMap or key the env needs is missing: CreateContainerConfigError."""


_EXPAND = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")
_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def expand_env_refs(value: str, env: Mapping[str, str]) -> str:
    """Kubelet-style ``$(VAR)`` expansion: known names are replaced, unknown ones kept, ``$$`` is ``$``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _EXPAND.sub(repl, value)


ReadData = Callable[[str, str, str], dict[str, str]]
"""(namespace, "Secret" | "ConfigMap", name) -> its data; raises EnvResolutionError when missing."""


def api_reader(core: Any) -> ReadData:
    """:data:`ReadData` over a ``CoreV1Api``."""

    def read(ns: str, kind: str, name: str) -> dict[str, str]:
        try:
            if kind == "Secret":
                secret = core.read_namespaced_secret(name, ns)
                return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
            return dict(core.read_namespaced_config_map(name, ns).data or {})
        except ApiException as exc:
            if exc.status == 404:
                raise EnvResolutionError(f'{kind.lower()} "{name}" not found') from exc
            raise

    return read


def field_value(pod: Mapping[str, Any], path: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    m = _FIELD_KEY.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    values = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if path not in values:
        raise EnvResolutionError(f"fieldRef {path!r} is not supported by the kubelet stand-in")
    return str(values[path] or "")


def resource_value(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    kind, _, name = str(ref["resource"]).partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name) or (resources.get("limits") or {}).get(name)
    if raw is None:
        return "0"
    # the API server stores an unset divisor as "0", which the kubelet reads as 1
    divisor = parse_quantity(str(ref.get("divisor") or "1")) or 1
    return str(math.ceil(parse_quantity(str(raw)) / divisor))


def resolve_env(pod: Mapping[str, Any], container: Mapping[str, Any], read: ReadData) -> dict[str, str]:
    ns = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for kind, ref_key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            ref = src.get(ref_key)
            if not ref:
                continue
            try:
                data = read(ns, kind, ref["name"])
            except EnvResolutionError:
                if ref.get("optional"):
                    continue
                raise
            env.update({prefix + k: v for k, v in data.items()})
    for item in container.get("env") or []:
        name, value_from = item["name"], item.get("valueFrom")
        if value_from is None:
            env[name] = expand_env_refs(str(item.get("value", "")), env)
        elif "fieldRef" in value_from:
            env[name] = field_value(pod, value_from["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in value_from:
            env[name] = resource_value(container, value_from["resourceFieldRef"])
        else:
            kind, ref = (
                ("Secret", value_from["secretKeyRef"])
                if "secretKeyRef" in value_from
                else ("ConfigMap", value_from["configMapKeyRef"])
            )
            try:
                data = read(ns, kind, ref["name"])
                if ref["key"] not in data:
                    raise EnvResolutionError(f"couldn't find key {ref['key']} in {kind} {ns}/{ref['name']}")
            except EnvResolutionError:
                if ref.get("optional"):
                    continue
                raise
            env[name] = data[ref["key"]]
    return env
