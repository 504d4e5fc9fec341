"""A STAND-IN for KubeRay's RayJob controller, for tests. It is NOT KubeRay.

This is the one test double of the project. The control plane (etcd, kube-apiserver,
kube-controller-manager) and KubeRay's CRDs are real; what cannot run here is KubeRay's operator and
Ray itself (no kubelet, no containers). This controller plays both for ``ray.io/v1`` RayJobs:

* it watches RayJobs (kubernetes client watch API plus a periodic resync) and, following the state
  machine of KubeRay v1.5.0's ``rayjob_controller.go``, moves ``status`` with the status subresource:
  ``jobDeploymentStatus`` "" -> Initializing -> Running -> Complete | Failed (also ValidationFailed,
  Suspending -> Suspended, Retrying -> "" for ``backoffLimit``), ``jobStatus`` "" -> PENDING -> RUNNING
  -> SUCCEEDED | FAILED; ``jobId`` and ``rayClusterName`` (``<rayjob>-<5 random chars>``), ``startTime``,
  ``endTime``, ``dashboardURL`` (``<cluster>-head-svc.<ns>.svc.cluster.local:8265``), ``reason`` /
  ``message``, ``succeeded`` / ``failed`` counts, ``rayJobInfo`` and ``rayClusterStatus``;
* it adds KubeRay's finalizer ``ray.io/rayjob-finalizer`` and removes it when the RayJob is deleted
  (stopping the job first), and creates the RayCluster (owned by the RayJob, labelled like KubeRay's),
  marking it ``status.state: ready`` as KubeRay's RayCluster controller would once the head Pod runs;
* instead of a Ray job on a cluster, it runs ``spec.entrypoint`` as a local process (``bash -c``) with
  the environment a Ray driver would see: this process's own environment (PATH, HOME, ... so that the
  repository's ``tunesweep`` command resolves), then the head group's first container's ``envFrom`` and
  ``env`` resolved as a kubelet would (``value`` with ``$(VAR)`` expansion, ``secretKeyRef``,
  ``configMapKeyRef``, ``fieldRef`` for the Pod's name/namespace), then ``env_vars`` from
  ``spec.runtimeEnvYAML``. A required Secret/ConfigMap key that is missing keeps the RayJob in
  Initializing (the head Pod could not start) until it appears. The exit code decides SUCCEEDED/FAILED;
  the output goes to :meth:`KubeRayStandIn.log_path`;
* ``spec.activeDeadlineSeconds`` (from ``status.startTime``): the process is killed and the RayJob goes
  Failed with reason DeadlineExceeded (``jobStatus`` left as it was, as KubeRay does);
  ``spec.shutdownAfterJobFinishes`` (+ ``ttlSecondsAfterFinished``) deletes the RayCluster after the
  end; ``spec.suspend`` kills the process and deletes the cluster.

Deliberate differences: no Pods, Services or submitter Kubernetes Jobs are created; the job is always
stopped on DeadlineExceeded (KubeRay leaves it to the cluster deletion); ``submissionMode:
InteractiveMode`` and ``deletionStrategy`` are not supported; a RayCluster deleted under a running job
(or :meth:`take_job_away`) fails the RayJob as a failed submitter Job would (reason SubmissionFailed).

Fault injection: :meth:`fail_job` (the Ray job fails with a message) and :meth:`take_job_away` (the
cluster vanishes under the job). Only one stand-in should run against a control plane at a time.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import logging
import os
import queue
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.support.controlplane import pdeathsig

log = logging.getLogger("tunesweep.tests.kuberay_standin")

GROUP = "ray.io"
VERSION = "v1"
RAYJOBS = "rayjobs"
RAYCLUSTERS = "rayclusters"
FINALIZER = "ray.io/rayjob-finalizer"
# k8s.io/apimachinery/pkg/util/rand.String's alphabet (no vowels, no confusable digits), as KubeRay uses.
_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_TERMINAL = ("Complete", "Failed", "ValidationFailed")
_JOB_TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
_MERGE = "application/merge-patch+json"


class EnvResolutionError(Exception):
    """A Secret/ConfigMap the head container's env needs is missing (the kubelet could not start it)."""


def _as_dict(value: object) -> dict[str, Any]:
    """Custom-object calls of the typed client are declared to return ``object``; they return dicts."""
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def rand_suffix(n: int = 5) -> str:
    return "".join(random.choice(_RAND_ALPHABET) for _ in range(n))


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


_EXPAND = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand_env_refs(value: str, env: Mapping[str, str]) -> str:
    """Kubelet-style ``$(VAR)`` expansion: known names are replaced, unknown ones kept, ``$$`` is ``$``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _EXPAND.sub(repl, value)


@dataclass
class _Call:
    """Work for the worker thread from another thread (fault injection), with its result."""

    fn: Callable[[], Any]
    future: Future[Any]


@dataclass
class _Job:
    namespace: str
    name: str
    uid: str
    job_id: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    started: float | None = None
    exit_code: int | None = None
    done: bool = False  # the terminal status has been written (or the job was stopped on purpose)
    cluster_deleted: bool = False


class KubeRayStandIn:
    """See the module docstring. Start with :meth:`start` (or ``with``), stop with :meth:`stop`.

    ``kubeconfig``: credentials to use (the admin kubeconfig in tests). ``log_dir``: where job logs go
    (``<log_dir>/<namespace>/<rayjob>/<jobId>.log``) and the jobs' working directories.
    ``namespace``: watch only this namespace (default: all). ``base_env``: the environment the
    entrypoints inherit (default: this process's ``os.environ``).
    """

    def __init__(
        self,
        kubeconfig: Path | str,
        log_dir: Path | str,
        *,
        namespace: str | None = None,
        base_env: Mapping[str, str] | None = None,
        resync_seconds: float = 1.0,
        stop_grace_seconds: float = 3.0,
    ) -> None:
        self.kubeconfig = str(kubeconfig)
        self.log_dir = Path(log_dir)
        self.namespace = namespace
        self.base_env = dict(base_env) if base_env is not None else None
        self.resync_seconds = resync_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self.errors: list[str] = []  # unexpected reconcile errors (tests may assert it stays empty)
        self.events: list[tuple[str, str, str]] = []  # (namespace/name, what, detail), for debugging
        self._api: Any = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._jobs: dict[tuple[str, str], _Job] = {}
        self._logs: dict[tuple[str, str], list[Path]] = {}
        self._touched: set[tuple[str, str]] = set()
        self._threads: list[threading.Thread] = []
        self._watch: watch.Watch | None = None
        self._lock = threading.Lock()

    # -- public API ----------------------------------------------------------------------------------------

    def __enter__(self) -> KubeRayStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> KubeRayStandIn:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        self._api = config.new_client_from_config(config_file=self.kubeconfig)
        self._custom = client.CustomObjectsApi(self._api)
        self._core = client.CoreV1Api(self._api)
        for target, name in ((self._watch_loop, "watch"), (self._work_loop, "worker")):
            t = threading.Thread(target=target, name=f"kuberay-standin-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Kill every job process, drop this stand-in's finalizers (so namespaces can go), stop threads."""
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if self._watch is not None:
            with contextlib.suppress(Exception):
                self._watch.stop()
        for job in list(self._jobs.values()):
            self._kill(job)
        for t in self._threads:
            t.join(timeout=15)
        for job in list(self._jobs.values()):  # anything the worker started meanwhile
            self._kill(job)
        for ns, name in sorted(self._touched):
            with contextlib.suppress(Exception):
                self._remove_finalizer(ns, name)
        if self._api is not None:
            with contextlib.suppress(Exception):
                self._api.close()

    def log_path(self, namespace: str, name: str) -> Path:
        """The log file of the RayJob's latest attempt (its process's stdout+stderr)."""
        with self._lock:
            paths = self._logs.get((namespace, name))
        if not paths:
            raise KeyError(f"the stand-in has not run RayJob {namespace}/{name}")
        return paths[-1]

    def log_paths(self, namespace: str, name: str) -> list[Path]:
        """Log files of every attempt of the RayJob (retries after ``backoffLimit``), oldest first."""
        with self._lock:
            return list(self._logs.get((namespace, name), []))

    def process(self, namespace: str, name: str) -> subprocess.Popen[bytes] | None:
        job = self._jobs.get((namespace, name))
        return job.popen if job else None

    def fail_job(
        self, namespace: str, name: str, message: str = "Injected failure (KubeRay stand-in)"
    ) -> None:
        """Make the running Ray job fail: its process is killed; jobStatus FAILED, Failed/AppFailed."""
        self._in_worker(lambda: self._do_fail_job(namespace, name, message))

    def take_job_away(self, namespace: str, name: str, message: str | None = None) -> None:
        """The RayCluster vanishes under the job: it is deleted, the process killed, the RayJob fails.

        Status as KubeRay's when the submitter Job gives up: Failed, reason SubmissionFailed.
        """
        self._in_worker(lambda: self._do_take_away(namespace, name, message))

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        """The RayJob as the API server has it."""
        api = client.CustomObjectsApi(self._api)
        obj: dict[str, Any] = _as_dict(
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, RAYJOBS, name)
        )
        return obj

    def wait_for(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        deployment_status: str | Iterable[str] | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Poll the RayJob until ``predicate(obj)`` holds or its jobDeploymentStatus is one of those given."""
        wanted = {deployment_status} if isinstance(deployment_status, str) else set(deployment_status or ())

        def ok(obj: dict[str, Any]) -> bool:
            if wanted and (obj.get("status") or {}).get("jobDeploymentStatus") not in wanted:
                return False
            return predicate(obj) if predicate else True

        deadline = time.monotonic() + timeout
        obj: dict[str, Any] = {}
        while True:
            try:
                obj = self.get(namespace, name)
                if ok(obj):
                    return obj
            except ApiException as exc:
                if exc.status != 404:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"RayJob {namespace}/{name} did not reach the expected state within {timeout}s; "
                    f"status: {obj.get('status')}; stand-in errors: {self.errors}"
                )
            time.sleep(0.1)

    # -- loops ---------------------------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        while not self._stop.is_set():
            self._watch = watch.Watch()
            try:
                if self.namespace:
                    stream = self._watch.stream(
                        self._custom.list_namespaced_custom_object,
                        GROUP,
                        VERSION,
                        self.namespace,
                        RAYJOBS,
                        timeout_seconds=5,
                    )
                else:
                    stream = self._watch.stream(
                        self._custom.list_cluster_custom_object, GROUP, VERSION, RAYJOBS, timeout_seconds=5
                    )
                for event in stream:
                    if self._stop.is_set():
                        break
                    meta = (event.get("object") or {}).get("metadata") or {}
                    if "name" in meta and "namespace" in meta:
                        self._queue.put((meta["namespace"], meta["name"]))
            except Exception as exc:
                if not self._stop.is_set():
                    log.debug("watch restarted after %r", exc)
                    time.sleep(0.5)

    def _work_loop(self) -> None:
        last_resync = 0.0
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                item = None
            if isinstance(item, _Call):
                try:
                    item.future.set_result(item.fn())
                except BaseException as exc:
                    item.future.set_exception(exc)
            elif item is not None:
                self._safe_reconcile(item)
            # Finished processes are noticed here, without an API round trip.
            for key, job in list(self._jobs.items()):
                if job.popen is not None and not job.done and job.popen.poll() is not None:
                    self._safe_reconcile(key)
            if time.monotonic() - last_resync >= self.resync_seconds:
                last_resync = time.monotonic()
                self._resync()

    def _resync(self) -> None:
        try:
            if self.namespace:
                items = _as_dict(
                    self._custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, RAYJOBS)
                )
            else:
                items = _as_dict(self._custom.list_cluster_custom_object(GROUP, VERSION, RAYJOBS))
        except Exception as exc:
            if not self._stop.is_set():
                log.debug("resync failed: %r", exc)
            return
        seen = set()
        for obj in items.get("items", []):
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            seen.add(key)
            self._safe_reconcile(key)
        for key in list(self._jobs):
            if key not in seen:
                self._safe_reconcile(key)

    def _in_worker(self, fn: Callable[[], Any], timeout: float = 60.0) -> Any:
        if self._stop.is_set() or not self._threads:
            raise RuntimeError("the KubeRay stand-in is not running")
        call = _Call(fn, Future())
        self._queue.put(call)
        return call.future.result(timeout=timeout)

    def _safe_reconcile(self, key: tuple[str, str]) -> None:
        try:
            self._reconcile(*key)
        except ApiException as exc:
            if exc.status in (404, 409):  # gone meanwhile, or a stale write: the next round redoes it
                return
            self._error(key, f"API error {exc.status}: {exc.reason} {exc.body}")
        except Exception as exc:
            if self._stop.is_set():
                return
            self._error(key, repr(exc))

    def _error(self, key: tuple[str, str], msg: str) -> None:
        text = f"{key[0]}/{key[1]}: {msg}"
        if text not in self.errors:
            log.warning("KubeRay stand-in: %s", text)
            self.errors.append(text)

    def _note(self, ns: str, name: str, what: str, detail: str = "") -> None:
        event = (f"{ns}/{name}", what, detail)
        if event in self.events[-20:] and what == "HeadPodNotStarted":
            return  # retried every resync: record it once
        self.events.append(event)
        log.info("KubeRay stand-in: %s/%s %s %s", ns, name, what, detail)

    # -- the state machine ---------------------------------------------------------------------------------

    def _reconcile(self, ns: str, name: str) -> None:
        key = (ns, name)
        try:
            obj = _as_dict(self._custom.get_namespaced_custom_object(GROUP, VERSION, ns, RAYJOBS, name))
        except ApiException as exc:
            if exc.status == 404:
                job = self._jobs.pop(key, None)
                if job is not None:
                    self._kill(job)
                return
            raise
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        job = self._jobs.get(key)
        if job is not None and job.uid != meta["uid"]:  # a new RayJob with the same name
            self._kill(job)
            self._jobs.pop(key, None)
            job = None

        if meta.get("deletionTimestamp"):
            if job is not None:
                self._kill(job)
                self._jobs.pop(key, None)
            self._remove_finalizer(ns, name)
            return
        managed_by = spec.get("managedBy")
        if managed_by and managed_by != "ray.io/kuberay-operator":
            return

        ds = status.get("jobDeploymentStatus") or ""
        if ds not in _TERMINAL and not spec.get("rayClusterSpec") and not spec.get("clusterSelector"):
            self._patch_status(
                obj,
                {
                    "jobDeploymentStatus": "ValidationFailed",
                    "reason": "ValidationFailed",
                    "message": "one of RayClusterSpec or ClusterSelector must be set",
                },
            )
            return

        if ds == "":
            self._on_new(obj)
        elif ds == "Initializing":
            self._on_initializing(obj, job)
        elif ds == "Running":
            self._on_running(obj, job)
        elif ds in ("Suspending", "Retrying"):
            self._on_suspending_or_retrying(obj, job)
        elif ds == "Suspended":
            if not spec.get("suspend"):
                self._patch_status(obj, {"jobStatus": None, "jobDeploymentStatus": None})
        elif ds in ("Complete", "Failed"):
            self._on_finished(obj, job)

    def _on_new(self, obj: dict[str, Any]) -> None:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        ns, name = meta["namespace"], meta["name"]
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER not in finalizers:
            self._custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                RAYJOBS,
                name,
                {
                    "metadata": {
                        "resourceVersion": meta["resourceVersion"],
                        "finalizers": [*finalizers, FINALIZER],
                    }
                },
                _content_type=_MERGE,
            )
            self._touched.add((ns, name))
            return  # the update comes back as an event
        self._touched.add((ns, name))
        cluster = status.get("rayClusterName") or (spec.get("clusterSelector") or {}).get("ray.io/cluster")
        patch = {
            "jobId": status.get("jobId") or spec.get("jobId") or f"{name}-{rand_suffix()}",
            "rayClusterName": cluster or f"{name}-{rand_suffix()}",
            "jobDeploymentStatus": "Initializing",
            "startTime": now_rfc3339(),
            "failed": status.get("failed", 0),
            "succeeded": status.get("succeeded", 0),
        }
        self._patch_status(obj, patch)
        self._note(ns, name, "Initializing", f"jobId={patch['jobId']} cluster={patch['rayClusterName']}")

    def _deadline_passed(self, obj: dict[str, Any]) -> bool:
        ads = (obj.get("spec") or {}).get("activeDeadlineSeconds")
        start = parse_time((obj.get("status") or {}).get("startTime"))
        return ads is not None and start is not None and time.time() >= start + int(ads)

    def _fail_deadline(self, obj: dict[str, Any], job: _Job | None) -> None:
        if job is not None:
            self._kill(job)
            job.done = True
        spec, status = obj["spec"], obj.get("status") or {}
        start = status.get("startTime")
        start_go = start.replace("T", " ").replace("Z", " +0000 UTC") if start else "<nil>"
        self._finish(
            obj,
            {
                "jobDeploymentStatus": "Failed",
                "reason": "DeadlineExceeded",
                "message": (
                    f"The RayJob has passed the activeDeadlineSeconds. StartTime: {start_go}. "
                    f"ActiveDeadlineSeconds: {spec['activeDeadlineSeconds']}"
                ),
            },
        )
        self._note(obj["metadata"]["namespace"], obj["metadata"]["name"], "DeadlineExceeded")

    def _suspended_or_past_deadline(self, obj: dict[str, Any], job: _Job | None) -> bool:
        """KubeRay checks suspension, then the deadline, before acting in Initializing and Running."""
        if (obj.get("spec") or {}).get("suspend"):
            self._patch_status(obj, {"jobDeploymentStatus": "Suspending"})
            return True
        if self._deadline_passed(obj):
            self._fail_deadline(obj, job)
            return True
        return False

    def _on_initializing(self, obj: dict[str, Any], job: _Job | None) -> None:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        ns, name = meta["namespace"], meta["name"]
        if self._suspended_or_past_deadline(obj, job):
            return
        cluster_name = status["rayClusterName"]
        cluster = self._get_cluster(ns, cluster_name)
        if cluster is None:
            if spec.get("clusterSelector"):
                return  # KubeRay waits for a selected cluster to exist
            cluster = self._create_cluster(obj, cluster_name)
            self._note(ns, name, "CreatedRayCluster", cluster_name)
        # The head Pod "starts": its environment must be resolvable, as for a kubelet.
        head = ((cluster.get("spec") or {}).get("headGroupSpec") or {}).get("template") or {}
        containers = (head.get("spec") or {}).get("containers") or [{}]
        pod_name = f"{cluster_name}-head-{rand_suffix()}"
        try:
            env = self._resolve_env(ns, containers[0], pod_name, head.get("spec") or {})
        except EnvResolutionError as exc:
            self._note(ns, name, "HeadPodNotStarted", str(exc))
            return
        env.update(self._runtime_env_vars(spec))
        cluster_status = {
            "state": "ready",
            "head": {"podName": pod_name, "serviceName": f"{cluster_name}-head-svc", "podIP": "127.0.0.1"},
            "endpoints": {"client": "10001", "dashboard": "8265", "gcs-server": "6379", "metrics": "8080"},
            "readyWorkerReplicas": 0,
            "availableWorkerReplicas": 0,
            "desiredWorkerReplicas": 0,
            "lastUpdateTime": now_rfc3339(),
        }
        if (cluster.get("status") or {}).get("state") != "ready":
            self._custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                ns,
                RAYCLUSTERS,
                cluster_name,
                {"status": cluster_status},
                _content_type=_MERGE,
            )
        log_path = self.log_dir / ns / name / f"{status['jobId']}.log"
        self._jobs[(ns, name)] = _Job(ns, name, meta["uid"], status["jobId"], log_path, env=env)
        self._patch_status(
            obj,
            {
                "dashboardURL": f"{cluster_name}-head-svc.{ns}.svc.cluster.local:8265",
                "jobDeploymentStatus": "Running",
                "rayClusterStatus": cluster_status,
            },
        )

    def _on_running(self, obj: dict[str, Any], job: _Job | None) -> None:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        ns, name = meta["namespace"], meta["name"]
        if self._suspended_or_past_deadline(obj, job):
            return
        cluster_name = status.get("rayClusterName", "")
        if job is None or job.job_id != status.get("jobId"):
            # Running, but this stand-in never ran it (it was restarted): the job is gone with its cluster.
            self._do_take_away(ns, name, None, obj=obj)
            return
        if self._get_cluster(ns, cluster_name) is None:
            self._do_take_away(ns, name, None, obj=obj)
            return
        if job.done:
            return
        if job.popen is None:
            if status.get("jobStatus") != "PENDING":
                self._patch_status(obj, {"jobStatus": "PENDING", "rayJobInfo": {}})
            self._spawn(job, spec["entrypoint"])
            self._patch_status(
                obj,
                {
                    "jobStatus": "RUNNING",
                    "rayJobInfo": {"startTime": now_rfc3339()},
                },
            )
            self._note(ns, name, "RUNNING", f"pid={job.popen.pid if job.popen else None}")
            return
        code = job.popen.poll()
        if code is None:
            return
        job.exit_code = code
        job.done = True
        if code == 0:
            self._finish(
                obj,
                {
                    "jobStatus": "SUCCEEDED",
                    "jobDeploymentStatus": "Complete",
                    "reason": None,
                    "message": "Job finished successfully.",
                    "rayJobInfo": {"endTime": now_rfc3339()},
                },
            )
        else:
            tail = _tail(job.log_path, 20000)
            self._finish(
                obj,
                {
                    "jobStatus": "FAILED",
                    "jobDeploymentStatus": "Failed",
                    "reason": "AppFailed",
                    "message": (
                        f"Job entrypoint command failed with exit code {code}, last available logs "
                        f"(truncated to 20,000 chars):\n{tail}"
                    ),
                    "rayJobInfo": {"endTime": now_rfc3339()},
                },
            )
        self._note(ns, name, "finished", f"exit code {code}")

    def _on_suspending_or_retrying(self, obj: dict[str, Any], job: _Job | None) -> None:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        ns, name = meta["namespace"], meta["name"]
        if job is not None:
            self._kill(job)
            self._jobs.pop((ns, name), None)
        cluster_name = status.get("rayClusterName")
        if (
            cluster_name
            and not spec.get("clusterSelector")
            and self._get_cluster(ns, cluster_name) is not None
        ):
            self._delete_cluster(ns, cluster_name)
            return  # KubeRay waits until the RayCluster is gone
        patch: dict[str, Any] = {
            "rayClusterName": None,
            "dashboardURL": None,
            "jobId": None,
            "message": None,
            "reason": None,
            "jobStatus": None,
            "rayJobInfo": None,
        }
        patch["jobDeploymentStatus"] = "Suspended" if status["jobDeploymentStatus"] == "Suspending" else None
        self._patch_status(obj, patch)
        self._note(ns, name, str(patch["jobDeploymentStatus"] or "Retrying -> New"))

    def _on_finished(self, obj: dict[str, Any], job: _Job | None) -> None:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        ns, name = meta["namespace"], meta["name"]
        if job is not None and job.popen is not None and job.popen.poll() is None:
            self._kill(job)
        if spec.get("clusterSelector") or not spec.get("shutdownAfterJobFinishes"):
            return
        if job is not None and job.cluster_deleted:
            return
        end = parse_time(status.get("endTime"))
        ttl = int(spec.get("ttlSecondsAfterFinished") or 0)
        if end is None or time.time() < end + ttl:
            return
        cluster_name = status.get("rayClusterName")
        if cluster_name and self._get_cluster(ns, cluster_name) is not None:
            self._delete_cluster(ns, cluster_name)
            self._note(ns, name, "DeletedRayCluster", cluster_name)
        if job is not None:
            job.cluster_deleted = True

    # -- status writes -------------------------------------------------------------------------------------

    def _patch_status(self, obj: dict[str, Any], patch: dict[str, Any]) -> None:
        meta = obj["metadata"]
        patch = dict(patch)
        patch.setdefault("observedGeneration", meta.get("generation"))
        self._custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], RAYJOBS, meta["name"], {"status": patch}, _content_type=_MERGE
        )

    def _finish(self, obj: dict[str, Any], patch: dict[str, Any]) -> None:
        """Write a terminal status, with KubeRay's counters, endTime and backoffLimit retry."""
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        failed = int(status.get("failed") or 0)
        succeeded = int(status.get("succeeded") or 0)
        ds = patch["jobDeploymentStatus"]
        if ds == "Failed":
            failed += 1
        job_status = patch.get("jobStatus", status.get("jobStatus"))
        if ds == "Complete" and job_status == "SUCCEEDED":
            succeeded += 1
        patch = {**patch, "failed": failed, "succeeded": succeeded}
        backoff = spec.get("backoffLimit")
        if (
            ds == "Failed"
            and backoff is not None
            and failed < int(backoff) + 1
            and patch.get("reason") != "DeadlineExceeded"
        ):
            patch["jobDeploymentStatus"] = "Retrying"
        else:
            patch["endTime"] = now_rfc3339()
        self._patch_status(obj, patch)

    # -- fault injection (run in the worker thread) ---------------------------------------------------------

    def _require(self, ns: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = _as_dict(
            self._custom.get_namespaced_custom_object(GROUP, VERSION, ns, RAYJOBS, name)
        )
        return obj

    def _do_fail_job(self, ns: str, name: str, message: str) -> None:
        obj = self._require(ns, name)
        job = self._jobs.get((ns, name))
        if job is not None:
            self._kill(job)
            job.done = True
        self._finish(
            obj,
            {
                "jobStatus": "FAILED",
                "jobDeploymentStatus": "Failed",
                "reason": "AppFailed",
                "message": message,
                "rayJobInfo": {"endTime": now_rfc3339()},
            },
        )
        self._note(ns, name, "fail_job", message)

    def _do_take_away(
        self, ns: str, name: str, message: str | None, obj: dict[str, Any] | None = None
    ) -> None:
        obj = obj or self._require(ns, name)
        status = obj.get("status") or {}
        job = self._jobs.get((ns, name))
        if job is not None:
            self._kill(job)
            job.done = True
        cluster_name = status.get("rayClusterName")
        if cluster_name and self._get_cluster(ns, cluster_name) is not None:
            self._delete_cluster(ns, cluster_name)
        if status.get("jobDeploymentStatus") in _TERMINAL:
            return
        self._finish(
            obj,
            {
                "jobDeploymentStatus": "Failed",
                "reason": "SubmissionFailed",
                "message": message
                or "Job submission has failed. Reason: BackoffLimitExceeded. "
                "Message: Job has reached the specified backoff limit",
            },
        )
        self._note(ns, name, "taken away", cluster_name or "")

    # -- Kubernetes helpers --------------------------------------------------------------------------------

    def _remove_finalizer(self, ns: str, name: str) -> None:
        try:
            obj = _as_dict(self._custom.get_namespaced_custom_object(GROUP, VERSION, ns, RAYJOBS, name))
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER in finalizers:
            finalizers.remove(FINALIZER)
            self._custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                RAYJOBS,
                name,
                {"metadata": {"resourceVersion": meta["resourceVersion"], "finalizers": finalizers or None}},
                _content_type=_MERGE,
            )

    def _get_cluster(self, ns: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = _as_dict(
                self._custom.get_namespaced_custom_object(GROUP, VERSION, ns, RAYCLUSTERS, name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        if obj["metadata"].get("deletionTimestamp"):
            return None
        return obj

    def _create_cluster(self, rayjob: dict[str, Any], cluster_name: str) -> dict[str, Any]:
        meta = rayjob["metadata"]
        labels = dict(meta.get("labels") or {})
        labels["ray.io/originated-from-cr-name"] = meta["name"]
        labels["ray.io/originated-from-crd"] = "RayJob"
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RayCluster",
            "metadata": {
                "name": cluster_name,
                "namespace": meta["namespace"],
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "RayJob",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": rayjob["spec"]["rayClusterSpec"],
        }
        annotations = meta.get("annotations")
        if annotations:
            body["metadata"]["annotations"] = dict(annotations)
        created: dict[str, Any] = _as_dict(
            self._custom.create_namespaced_custom_object(GROUP, VERSION, meta["namespace"], RAYCLUSTERS, body)
        )
        return created

    def _delete_cluster(self, ns: str, name: str) -> None:
        with contextlib.suppress(ApiException):
            self._custom.delete_namespaced_custom_object(
                GROUP, VERSION, ns, RAYCLUSTERS, name, propagation_policy="Background"
            )

    def _read_key(self, ns: str, kind: str, ref: Mapping[str, Any]) -> str | None:
        """Value of ``ref.key`` in Secret/ConfigMap ``ref.name``; None if optional and missing."""
        optional = bool(ref.get("optional"))
        try:
            data = self._read_data(ns, kind, ref["name"])
        except EnvResolutionError:
            if optional:
                return None
            raise
        if ref["key"] not in data:
            if optional:
                return None
            raise EnvResolutionError(f"couldn't find key {ref['key']} in {kind} {ns}/{ref['name']}")
        return data[ref["key"]]

    def _read_data(self, ns: str, kind: str, name: str) -> dict[str, str]:
        try:
            if kind == "Secret":
                secret = self._core.read_namespaced_secret(name, ns)
                return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
            cm = self._core.read_namespaced_config_map(name, ns)
            return dict(cm.data or {})
        except ApiException as exc:
            if exc.status == 404:
                raise EnvResolutionError(f'{kind.lower()} "{name}" not found') from exc
            raise

    def _resolve_env(
        self, ns: str, container: Mapping[str, Any], pod_name: str, pod_spec: Mapping[str, Any]
    ) -> dict[str, str]:
        env: dict[str, str] = {}
        for src in container.get("envFrom") or []:
            prefix = src.get("prefix", "")
            for kind, ref_key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                ref = src.get(ref_key)
                if not ref:
                    continue
                try:
                    data = self._read_data(ns, kind, ref["name"])
                except EnvResolutionError:
                    if ref.get("optional"):
                        continue
                    raise
                env.update({prefix + k: v for k, v in data.items()})
        field_values = {
            "metadata.name": pod_name,
            "metadata.namespace": ns,
            "spec.serviceAccountName": str(pod_spec.get("serviceAccountName") or "default"),
            "spec.nodeName": "kuberay-standin",
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        for item in container.get("env") or []:
            name = item["name"]
            value_from = item.get("valueFrom")
            if value_from is None:
                env[name] = expand_env_refs(str(item.get("value", "")), env)
                continue
            value: str | None
            if "secretKeyRef" in value_from:
                value = self._read_key(ns, "Secret", value_from["secretKeyRef"])
            elif "configMapKeyRef" in value_from:
                value = self._read_key(ns, "ConfigMap", value_from["configMapKeyRef"])
            elif "fieldRef" in value_from:
                value = field_values.get(value_from["fieldRef"].get("fieldPath", ""), "")
            else:
                value = None  # resourceFieldRef and the like: not modelled
            if value is not None:
                env[name] = value
        return env

    @staticmethod
    def _runtime_env_vars(spec: Mapping[str, Any]) -> dict[str, str]:
        raw = spec.get("runtimeEnvYAML")
        if not raw:
            return {}
        doc = yaml.safe_load(raw) or {}
        env_vars = doc.get("env_vars") or {} if isinstance(doc, dict) else {}
        return {str(k): str(v) for k, v in env_vars.items()}

    # -- processes -----------------------------------------------------------------------------------------

    def _spawn(self, job: _Job, entrypoint: str) -> None:
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        workdir = job.log_path.with_suffix(".workdir")
        workdir.mkdir(parents=True, exist_ok=True)
        env = dict(self.base_env if self.base_env is not None else os.environ)
        env.update(job.env)
        with self._lock:
            self._logs.setdefault((job.namespace, job.name), []).append(job.log_path)
        with job.log_path.open("ab") as logf:
            job.popen = subprocess.Popen(
                ["bash", "-c", entrypoint],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
                preexec_fn=pdeathsig,  # and SIGKILLed should this process die first
            )
        job.started = time.time()

    def _kill(self, job: _Job) -> None:
        p = job.popen
        if p is None:
            return
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(self.stop_grace_seconds)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(5)


def _tail(path: Path, chars: int) -> str:
    try:
        data = path.read_bytes()[-chars:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def make_rayjob(
    name: str,
    entrypoint: str,
    *,
    env: list[dict[str, Any]] | None = None,
    image: str = "rayproject/ray:2.49.0",
    labels: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A minimal valid ``ray.io/v1`` RayJob: head group only, ``env`` on the head container.

    Extra keyword arguments are spec fields (``activeDeadlineSeconds=5``, ``shutdownAfterJobFinishes=True``,
    ``runtimeEnvYAML=...``, ``suspend=True``, ...).
    """
    container: dict[str, Any] = {"name": "ray-head", "image": image}
    if env:
        container["env"] = env
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayJob",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": entrypoint,
            "rayClusterSpec": {
                "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [container]}}},
            },
            **spec,
        },
    }
    if labels:
        body["metadata"]["labels"] = dict(labels)
    return body
