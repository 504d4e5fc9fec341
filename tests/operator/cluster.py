"""The operator as it runs in production, for the integration tests: `tunesweep operator --namespace NS`
as a subprocess, logged in with a service account bound to exactly charts/tunesweep/files/operator-rules.yaml.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from tunesweep_operator.settings import NODE_LOCAL_ENV

from tests.support.controlplane import REPO_ROOT, ControlPlane, free_port

RULES = REPO_ROOT / "charts" / "tunesweep" / "files" / "operator-rules.yaml"
SERVICE_ACCOUNT = "tunesweep-operator"
TUNESWEEP = Path(sys.executable).parent / "tunesweep"
T = TypeVar("T")
Event = tuple[str, str, str]
# What the operator writes on its own time (status, Events, metrics, its log) is waited for, never read
# once: on a loaded 2-core machine a moment after a status change can be seconds.
ASYNC_TIMEOUT = 60.0
KUBERAY_SEES_THE_END = {"TUNESWEEP_RAY_AUTH": "disabled"}
"""Operator env for the tests that read KubeRay's own account of a job after it ended (its RayJob
status, Pods, submitter Job, retries): KubeRay v1.5 cannot read a job's end under Ray's token auth (the
default), and there the operator deletes the RayJob once the driver's summary is final. The default is
run end to end by tests/operator/test_ray_auth.py and tests/ship/test_install_apiserver.py."""


def bind_operator_rules(cp: ControlPlane, namespace: str) -> Path:
    """A Role with exactly the operator's rules, bound to its service account; that account's kubeconfig."""
    rules = yaml.safe_load(RULES.read_text())
    rbac = client.RbacAuthorizationV1Api(cp.api_client())
    rbac.create_namespaced_role(namespace, {"metadata": {"name": SERVICE_ACCOUNT}, "rules": rules})
    kubeconfig = cp.kubeconfig_for_service_account(namespace, SERVICE_ACCOUNT)
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": SERVICE_ACCOUNT},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}],
        },
    )
    wait_for_grant(cp, namespace, f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}", rules[0])
    return kubeconfig


def set_operator_rules(cp: ControlPlane, namespace: str, rules: list[dict[str, Any]]) -> None:
    """Replace the operator's Role (RBAC taken away, or given back, while it runs)."""
    rbac = client.RbacAuthorizationV1Api(cp.api_client())
    rbac.replace_namespaced_role(
        SERVICE_ACCOUNT, namespace, {"metadata": {"name": SERVICE_ACCOUNT}, "rules": rules}
    )


def operator_user(namespace: str) -> str:
    return f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"


def wait_for_grant(
    cp: ControlPlane, namespace: str, user: str, rule: dict[str, Any], *, granted: bool = True
) -> None:
    """Until the API server's authorizer grants `user` the first verb of `rule` (one rule of a Role: the
    Role and its binding are whole objects), or refuses it with `granted=False`. The authorizer reads
    Roles and bindings from caches that follow the writes a moment later, and the operator's first calls
    must not be refused."""
    resource, _, subresource = rule["resources"][0].partition("/")
    attributes = {
        "namespace": namespace,
        "group": rule["apiGroups"][0],
        "resource": resource,
        "subresource": subresource,
        "verb": rule["verbs"][0],
    }
    authorization = client.AuthorizationV1Api(cp.api_client())
    seen: list[Any] = [None]

    def allowed() -> bool:
        review = {"spec": {"user": user, "resourceAttributes": attributes}}
        seen[0] = authorization.create_subject_access_review(review).status
        return bool(seen[0].allowed) == granted

    wait_until(
        allowed,
        ASYNC_TIMEOUT,
        lambda: f"RBAC to {'grant' if granted else 'refuse'} {user} {attributes}; the review says {seen[0]}",
    )


class OperatorProcess:
    """One `tunesweep operator` subprocess; its JSON log lines go to `log`."""

    def __init__(self, namespace: str, kubeconfig: Path, log: Path, env: Mapping[str, str]) -> None:
        self.namespace = namespace
        self.log = log
        self.liveness_port = free_port()
        self.metrics_port = free_port()
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TUNESWEEP_"))},
            "KUBECONFIG": str(kubeconfig),
            "TUNESWEEP_TRAINER_IMAGE_CPU": "tunesweep-trainer:cpu-test",
            "TUNESWEEP_TRAINER_IMAGE_CUDA": "tunesweep-trainer:cuda-test",
            "TUNESWEEP_TRAINER_IMAGE_TPU": "tunesweep-trainer:tpu-test",
            "TUNESWEEP_PROGRESS_INTERVAL_SECONDS": "1",
            # the kubelet stand-in runs the Ray pods on this machine: file:// evidence is shared
            NODE_LOCAL_ENV: "true",
            **env,
        }
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [
                    str(TUNESWEEP),
                    "operator",
                    "--namespace",
                    namespace,
                    f"--liveness-port={self.liveness_port}",
                    f"--metrics-port={self.metrics_port}",
                ],
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until kopf answers its liveness probe (it is watching by then)."""
        url = f"http://127.0.0.1:{self.liveness_port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"the operator exited with {self.popen.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"the operator did not become live within {timeout}s:\n{self.tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def readiness(self) -> tuple[int, str]:
        """GET /readyz (beside /metrics): its status code and body."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=10
            ) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def kill(self) -> None:
        """SIGKILL: no goodbye, as when a node dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(line))
        return records

    def log_messages(self) -> list[str]:
        return [str(record.get("message", "")) for record in self.log_records()]

    def wait_for_log(self, message: str, timeout: float = ASYNC_TIMEOUT) -> list[str]:
        """Until a log record's message starts with `message`; every message logged so far."""
        return wait_until(
            lambda: (found := self.log_messages()) and any(m.startswith(message) for m in found) and found,
            timeout,
            lambda: f"a log record starting {message!r} in {self.log}; its tail:\n{self.tail()}",
        )

    def wait_for_metrics(self, *lines: str, timeout: float = ASYNC_TIMEOUT) -> str:
        """Until the metrics endpoint shows every one of `lines`; that page."""
        seen = [""]

        def shown() -> str | None:
            seen[0] = self.metrics()
            return seen[0] if all(line in seen[0] for line in lines) else None

        return wait_until(
            shown, timeout, lambda: f"metrics {list(lines)}; the tunesweep ones now:\n{ours(seen[0])}"
        )


def ours(metrics: str) -> str:
    return "\n".join(line for line in metrics.splitlines() if line.startswith("tunesweep_"))


def wait_until(probe: Callable[[], T | None], timeout: float, what: Callable[[], str] | str) -> T:
    """Poll `probe` until it returns something truthy; return that.

    On timeout the message says what was awaited and what was seen last: `what()` (describe the state
    there), or for a plain string `what`, the probe's last return value.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            described = what() if callable(what) else f"{what} (last seen: {value!r})"
            raise AssertionError(f"timed out after {timeout}s waiting for {described}")
        time.sleep(0.25)


class Cluster:
    """Admin reads of what the operator made, for assertions."""

    def __init__(self, cp: ControlPlane, namespace: str) -> None:
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(cp.api_client())
        self.core = client.CoreV1Api(cp.api_client())

    def sweep(self, name: str) -> dict[str, Any] | None:
        return self._get(lambda: self.custom.get_namespaced_custom_object(
            "tunesweep.dev", "v1alpha1", self.namespace, "tuningsweeps", name
        ))  # fmt: skip

    def sweep_status(self, name: str) -> dict[str, Any]:
        return (self.sweep(name) or {}).get("status") or {}

    def wait_for_phase(self, name: str, phases: str | tuple[str, ...], timeout: float) -> dict[str, Any]:
        wanted = (phases,) if isinstance(phases, str) else phases
        return wait_until(
            lambda: (s := self.sweep_status(name)) and s.get("phase") in wanted and s,
            timeout,
            lambda: (
                f"sweep {name} in {wanted}; status now {json.dumps(self.sweep_status(name))}; "
                f"the namespace's Pods now: {self.pods_summary() or 'none'}"
            ),
        )

    def pods_summary(self) -> str:
        """Each Pod of the namespace: its phase, and each container's readiness, restarts and last exit
        (a Ray node that keeps failing to start shows as restarts, where the sweep only says Provisioning)."""
        pods = []
        for pod in self.core.list_namespaced_pod(self.namespace).items:
            containers = []
            for c in pod.status.container_statuses or ():
                ended = c.state.terminated or (c.last_state.terminated if c.last_state else None)
                exit_ = f", exit {ended.exit_code}" if ended else ""
                containers.append(f"{c.name} ready={c.ready} restarts={c.restart_count}{exit_}")
            pods.append(f"{pod.metadata.name} {pod.status.phase} ({'; '.join(containers)})")
        return ", ".join(pods)

    def rayjobs(self) -> list[dict[str, Any]]:
        return self._ray_objects("rayjobs")

    def rayclusters(self) -> list[dict[str, Any]]:
        return self._ray_objects("rayclusters")

    def _ray_objects(self, plural: str) -> list[dict[str, Any]]:
        found = self.custom.list_namespaced_custom_object("ray.io", "v1", self.namespace, plural)
        items: list[dict[str, Any]] = found["items"]
        return items

    def rayjob(self, name: str) -> dict[str, Any] | None:
        return self._get(lambda: self.custom.get_namespaced_custom_object(
            "ray.io", "v1", self.namespace, "rayjobs", name
        ))  # fmt: skip

    def config_map(self, name: str) -> client.V1ConfigMap | None:
        return self._get(lambda: self.core.read_namespaced_config_map(name, self.namespace))

    def events(self, name: str) -> list[Event]:
        """(type, reason, message) of the Events about sweep `name`, oldest first."""
        found = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=TuningSweep"
        )
        items = sorted(found.items, key=lambda e: e.event_time or e.metadata.creation_timestamp)
        return [(e.type, e.reason, e.message or "") for e in items]

    def wait_for_events(
        self, name: str, wanted: Callable[[list[Event]], bool], what: str, timeout: float = ASYNC_TIMEOUT
    ) -> list[Event]:
        """Until the Events about sweep `name` satisfy `wanted` (the operator posts them after the status
        change they announce, in the background); those Events."""
        seen: list[Event] = []

        def probe() -> tuple[list[Event]] | None:
            seen[:] = self.events(name)
            return (list(seen),) if wanted(seen) else None

        (found,) = wait_until(probe, timeout, lambda: f"Events of sweep {name}: {what}; Events now: {seen}")
        return found

    def wait_for_mirrored_job_status(self, name: str, job_status: str) -> dict[str, Any]:
        """Until sweep `name`'s status mirrors its RayJob's `jobStatus`; that status. The sweep may end
        first: the driver's final summary is its verdict, and KubeRay reads the job's end on its own
        time."""
        return wait_until(
            lambda: (
                (s := self.sweep_status(name))
                and (s.get("rayJob") or {}).get("jobStatus") == job_status
                and s
            ),
            ASYNC_TIMEOUT,
            lambda: (
                f"sweep {name}'s rayJob.jobStatus {job_status}; now {self.sweep_status(name).get('rayJob')}"
            ),
        )

    def wait_for_rayjob(
        self, name: str, wanted: Callable[[dict[str, Any]], bool], what: str, timeout: float = ASYNC_TIMEOUT
    ) -> dict[str, Any]:
        """Until RayJob `name` satisfies `wanted`; that RayJob."""
        seen: list[dict[str, Any] | None] = [None]

        def probe() -> dict[str, Any] | None:
            seen[0] = self.rayjob(name)
            return seen[0] if seen[0] is not None and wanted(seen[0]) else None

        return wait_until(
            probe,
            timeout,
            lambda: f"RayJob {name}: {what}; its status now: {json.dumps((seen[0] or {}).get('status'))}",
        )

    @staticmethod
    def _get(call: Callable[[], T]) -> T | None:
        try:
            return call()
        except ApiException as error:
            if error.status == 404:
                return None
            raise


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    found = [c for c in status.get("conditions", []) if c["type"] == type_]
    assert found, f"no {type_} condition in {status}"
    return found[0]
