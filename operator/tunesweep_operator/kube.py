"""The Kubernetes API calls of the operator (kubernetes client), and nothing else.

Status writes are read-modify-write with the object's resourceVersion (PUT on /status): several
handlers (RayJob events, the progress timer, promotion) update one sweep, and none may undo
another's write. A conflict re-reads and recomputes.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from tunesweep_evidence.spec import GROUP, PLURAL, VERSION, TuningSweepStatus

from .status import dump_status, parse_status

RAY_GROUP, RAY_VERSION, RAYJOBS = "ray.io", "v1", "rayjobs"
KUBERAY_VERSION = "1.5.0"
"""The KubeRay release the tests run (hack/tools/kuberay/go.mod, the chart's kuberay-version)."""
_ATTEMPTS = 6


def new_api_client() -> client.ApiClient:
    """In a Pod, its service account; elsewhere $KUBECONFIG (as kopf logs in)."""
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException:
        return config.new_client_from_config()


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._custom = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._networking = client.NetworkingV1Api(api)

    # ---- sweeps ----

    def get_sweep(self, namespace: str, name: str) -> dict[str, Any] | None:
        return _absent_on_404(
            lambda: self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        )

    def update_sweep_status(
        self,
        namespace: str,
        name: str,
        uid: str,
        change: Callable[[TuningSweepStatus, dict[str, Any]], TuningSweepStatus],
        seen: dict[str, Any] | None = None,
    ) -> tuple[TuningSweepStatus, TuningSweepStatus, dict[str, Any]] | None:
        """Apply `change(old status, sweep)`; return (old, new, sweep), or None if the sweep is gone
        (or is a new object with the same name). `seen`: the sweep as the caller last saw it (kopf's
        body), tried first: a change of nothing costs no request, a stale one a 409 and a re-read."""
        for attempt in range(_ATTEMPTS):
            sweep = (
                copy.deepcopy(seen) if attempt == 0 and seen is not None else self.get_sweep(namespace, name)
            )
            if sweep is None or sweep["metadata"]["uid"] != uid:
                return None
            old = parse_status(sweep.get("status"))
            new = change(old, sweep)
            if dump_status(new) == dump_status(old):
                return old, new, sweep
            sweep["status"] = dump_status(new)
            try:
                self._custom.replace_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, sweep
                )
                return old, new, sweep
            except ApiException as error:
                if error.status == 404:
                    return None
                if error.status != 409 and (error.status or 0) < 500:
                    raise
            time.sleep(min(0.1 * 2**attempt, 2.0))
        raise RuntimeError(f"could not update the status of {namespace}/{name} after {_ATTEMPTS} attempts")

    # ---- RayJobs ----

    def rayjobs_served(self) -> bool:
        """Whether the API server serves KubeRay's RayJobs (its CRDs are installed); discovery, which
        every authenticated user may read."""
        try:
            found = self._custom.get_api_resources(RAY_GROUP, RAY_VERSION)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return any(resource.name == RAYJOBS for resource in found.resources)

    def get_rayjob(self, namespace: str, name: str) -> dict[str, Any] | None:
        return _absent_on_404(
            lambda: self._custom.get_namespaced_custom_object(
                RAY_GROUP, RAY_VERSION, namespace, RAYJOBS, name
            )
        )

    def create_rayjob(self, body: dict[str, Any]) -> None:
        """Create; raises ApiException 409 when the name is taken."""
        self._custom.create_namespaced_custom_object(
            RAY_GROUP, RAY_VERSION, body["metadata"]["namespace"], RAYJOBS, body
        )

    def delete_rayjob(self, namespace: str, name: str) -> None:
        """Delete (its RayCluster and submitter Job by garbage collection); gone already is fine."""
        _absent_on_404(
            lambda: self._custom.delete_namespaced_custom_object(
                RAY_GROUP, RAY_VERSION, namespace, RAYJOBS, name, propagation_policy="Background"
            )
        )

    # ---- Secrets (the sweeps' Ray auth tokens) ----

    def create_secret(self, body: dict[str, Any]) -> None:
        """Create; raises ApiException 409 when the name is taken."""
        self._core.create_namespaced_secret(body["metadata"]["namespace"], cast(Any, body))

    # ---- NetworkPolicies ----

    def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = _absent_on_404(lambda: self._networking.read_namespaced_network_policy(name, namespace))
        return None if found is None else cast(dict[str, Any], self._api.sanitize_for_serialization(found))

    def create_network_policy(self, body: dict[str, Any]) -> None:
        """Create; raises ApiException 409 when the name is taken."""
        self._networking.create_namespaced_network_policy(body["metadata"]["namespace"], cast(Any, body))

    # ---- ServiceAccounts ----

    def service_account_exists(self, namespace: str, name: str) -> bool:
        return _absent_on_404(lambda: self._core.read_namespaced_service_account(name, namespace)) is not None

    # ---- ConfigMaps ----

    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = _absent_on_404(lambda: self._core.read_namespaced_config_map(name, namespace))
        return None if found is None else cast(dict[str, Any], self._api.sanitize_for_serialization(found))

    def create_config_map(self, body: dict[str, Any]) -> None:
        """Create; raises ApiException 409 when the name is taken."""
        self._core.create_namespaced_config_map(body["metadata"]["namespace"], cast(Any, body))

    def replace_config_map(self, body: dict[str, Any], resource_version: str) -> None:
        meta = {**body["metadata"], "resourceVersion": resource_version}
        self._core.replace_namespaced_config_map(
            meta["name"], meta["namespace"], cast(Any, {**body, "metadata": meta})
        )


def refusal(error: ApiException) -> str | None:
    """What the API server said when it refused a request for good (a 4xx other than conflict and
    throttling: RBAC, admission, validation), or None for errors worth retrying."""
    code = error.status or 0
    if not 400 <= code < 500 or code in (409, 429):
        return None
    try:
        detail = json.loads(error.body or "{}").get("message") or error.reason
    except (ValueError, AttributeError):
        detail = error.reason
    return f"HTTP {code} {error.reason}: {detail}"


def _absent_on_404(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ApiException as error:
        if error.status == 404:
            return None
        raise
