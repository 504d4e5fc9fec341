"""A STAND-IN for the kubelet, for tests: the project's one test double.

Everything else of the cluster path is real: kube-apiserver, etcd, kube-controller-manager (Jobs,
EndpointSlices, garbage collection, node lifecycle), kube-scheduler (which binds Pods to Nodes by their
requests, nodeSelector and tolerations), KubeRay's own operator, and Ray. What cannot run here is a
container runtime, so this stand-in plays the kubelet of one or more Nodes:

* it registers each :class:`NodePool` as a Node (capacity, labels, taints; accelerators are numbers
  only) and renews its Lease, so the node lifecycle controller keeps it Ready;
* for every Pod the scheduler bound to one of its Nodes, it runs the containers' real ``command`` and
  ``args`` as local processes: init containers first, in order, then the containers; each container in
  a PID namespace of its own (when its main process ends, everything it started ends, as in a
  container), all of a Pod's containers in the Pod's network namespace (its own address and ports, see
  :mod:`tests.support.pod_network`) with the Pod's name as hostname and cluster DNS through a hosts file;
* a container's environment is the image's (``image_env``: the Dockerfile's ``ENV`` for this machine)
  then the Pod's (``envFrom``/``env``, see :mod:`tests.support.pod_env`); ``JAX_PLATFORMS=cpu`` is forced,
  since no accelerator exists here: a worker that declares ``num-gpus: 1`` or ``TPU: 4`` offers Ray's
  logical resource, and its trials run JAX on the CPU;
* it reports Pod status as a kubelet does: Pending (``CreateContainerConfigError`` while a Secret or
  ConfigMap the env needs is missing; ``PodInitializing``), then Running with ``podIP``, Ready once the
  readiness probes pass (exec, httpGet and tcpSocket; ``initialDelaySeconds``, ``periodSeconds`` and
  ``failureThreshold`` honoured), then Succeeded or Failed with each container's exit code (restart
  policies ``Never``, ``OnFailure`` and ``Always`` honoured, with ``restartCount``);
* a Pod that is deleted gets SIGTERM, then SIGKILL after its grace period (capped at
  :attr:`KubeletStandIn.max_grace_seconds`), and is then removed from the API (grace period 0).

* ``secret`` volumes: the Secret's keys (or its ``items``) become files in a folder of the Pod's,
  bind-mounted (read-only when the mount says so) at each ``volumeMount``'s ``mountPath`` in the
  container's own mount namespace; a missing Secret holds the Pod in ``CreateContainerConfigError``
  (a kubelet says ``ContainerCreating`` with a FailedMount Event) until it exists.
* ``hostPath`` volumes: this machine's folder bind-mounted at each ``mountPath`` the same way (created
  for ``type: DirectoryOrCreate``; a missing one holds the Pod in ``CreateContainerConfigError``).

Not modelled: images (every container runs this repository's environment), liveness and startup
probes, volumes other than ``secret`` and ``hostPath`` ones (the Pod's processes see this machine's
file system), resource limits (requests and limits are bookkeeping for the scheduler only).

Fault injection: :meth:`KubeletStandIn.kill_pod` (every process of a Pod SIGKILLed: a lost node, a
preempted VM) and :meth:`KubeletStandIn.hold_unready` (a Pod whose readiness probe never passes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.support.controlplane import pdeathsig
from tests.support.pod_env import EnvResolutionError, api_reader, resolve_env
from tests.support.pod_network import PodNetwork, kill_namespace

log = logging.getLogger("tunesweep.tests.kubelet")

ImageEnv = Callable[[str, Path], dict[str, str]]
"""(image, the container's /tmp) -> the environment the image's ENV gives a container on this machine."""

_TICK = 0.25
_LEASE_SECONDS = 40
_STRATEGIC = "application/strategic-merge-patch+json"


def _items(response: Any) -> list[dict[str, Any]]:
    """The items of a raw (``_preload_content=False``) list response, as plain JSON."""
    items: list[dict[str, Any]] = json.loads(response.data)["items"]
    return items


def _host_folder(source: Mapping[str, Any]) -> Path:
    """A `hostPath` volume's folder on this machine (the Node), as a kubelet finds or makes it."""
    folder = Path(source["path"])
    if source.get("type") == "DirectoryOrCreate":
        folder.mkdir(parents=True, exist_ok=True)
    elif not folder.exists():
        raise EnvResolutionError(f"hostPath {folder} does not exist (type {source.get('type', '')!r})")
    return folder


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class NodePool:
    """One Node of the stand-in: what it offers the scheduler."""

    name: str
    capacity: Mapping[str, str]
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] = ()


@dataclass
class _Container:
    spec: dict[str, Any]
    env: dict[str, str]
    log: Path
    mounts: list[tuple[Path, str, bool]] = field(default_factory=list)  # (source, mountPath, readOnly)
    popen: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    restarts: int = 0
    ready: bool = False
    probe_due: float = 0.0
    probe_failures: int = 0

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def running(self) -> bool:
        return self.popen is not None and self.exit_code is None

    def status(self, image: str) -> dict[str, Any]:
        state: dict[str, Any]
        if self.popen is None:
            state = {"waiting": {"reason": "PodInitializing"}}
        elif self.exit_code is None:
            state = {"running": {"startedAt": self.started_at}}
        else:
            reason = "Completed" if self.exit_code == 0 else "Error"
            state = {
                "terminated": {
                    "exitCode": self.exit_code,
                    "reason": reason,
                    "startedAt": self.started_at,
                    "finishedAt": self.finished_at,
                }
            }
        return {
            "name": self.name,
            "image": image,
            "imageID": "",
            "ready": self.ready,
            "started": self.running(),
            "restartCount": self.restarts,
            "state": state,
        }


@dataclass
class _Pod:
    namespace: str
    name: str
    uid: str
    node: str
    root: Path
    netns: str | None = None
    ip: str | None = None
    started_at: str | None = None
    init: list[_Container] = field(default_factory=list)
    main: list[_Container] = field(default_factory=list)
    waiting: tuple[str, str] | None = None  # (reason, message) before the containers exist
    phase: str = "Pending"
    stop: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    last_status: dict[str, Any] | None = None  # as last posted, less the transition times
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)  # condition -> (status, since)


class KubeletStandIn:
    """The kubelet of the Nodes in `nodes`; see the module docstring."""

    max_grace_seconds = 10.0

    def __init__(
        self, kubeconfig: Path, workdir: Path, nodes: Sequence[NodePool], image_env: ImageEnv
    ) -> None:
        self.workdir = workdir
        self.nodes = {n.name: n for n in nodes}
        self.image_env = image_env
        self.network = PodNetwork(workdir)
        self.errors: list[str] = []
        api = config.new_client_from_config(config_file=str(kubeconfig))
        self._core = client.CoreV1Api(api)
        self._coord = client.CoordinationV1Api(api)
        self._discovery = client.DiscoveryV1Api(api)
        self._read = api_reader(self._core)
        self._pods: dict[str, _Pod] = {}
        self._unready: list[Callable[[str, str], bool]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lease_due = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> KubeletStandIn:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.network.start()
        for node in self.nodes.values():
            self._register(node)
        self._thread = threading.Thread(target=self._loop, name="kubelet-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        with self._lock:
            pods = list(self._pods.values())
        for pod in pods:
            pod.stop.set()
        for pod in pods:
            pod.stopped.wait(self.max_grace_seconds + 10)
        self.network.stop()
        for name in self.nodes:
            with contextlib.suppress(ApiException):
                self._core.delete_node(name)

    # -- inspection and fault injection -------------------------------------------------------------------

    def pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        """The output of a Pod's container (its first container by default), all restarts included."""
        pod = self._find(namespace, name)
        if pod is None:
            return ""
        chosen = next((c for c in pod.main if container in (None, c.name)), None)
        return chosen.log.read_text(errors="replace") if chosen and chosen.log.exists() else ""

    def pod_tmp(self, namespace: str, name: str) -> Path | None:
        """What the Pod's containers see as /tmp (Ray keeps its session and job logs there)."""
        pod = self._find(namespace, name)
        return pod.root / "t" if pod is not None else None

    def kill_pod(self, namespace: str, name: str) -> int:
        """SIGKILL every process of the Pod, as when its node is lost; the number of processes killed."""
        pod = self._find(namespace, name)
        assert pod is not None and pod.netns, f"the kubelet stand-in runs no Pod {namespace}/{name}"
        return kill_namespace(pod.netns)

    def hold_unready(self, match: Callable[[str, str], bool]) -> None:
        """Readiness probes of the Pods `match(namespace, name)` selects fail from now on."""
        with self._lock:
            self._unready.append(match)

    def _find(self, namespace: str, name: str) -> _Pod | None:
        with self._lock:
            return next((p for p in self._pods.values() if (p.namespace, p.name) == (namespace, name)), None)

    # -- Nodes -------------------------------------------------------------------------------------------

    def _register(self, node: NodePool) -> None:
        allocatable = {"pods": "110", **node.capacity}
        body = {
            "metadata": {"name": node.name, "labels": {"kubernetes.io/hostname": node.name, **node.labels}},
            "spec": {"taints": [dict(t) for t in node.taints]},
        }
        with contextlib.suppress(ApiException):
            self._core.delete_node(node.name)
        self._core.create_node(body)
        self._node_status(node.name, allocatable)
        self._renew_lease(node.name)

    def _node_status(self, name: str, allocatable: Mapping[str, str]) -> None:
        now = _now()
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet stand-in",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        status = {
            "capacity": dict(allocatable),
            "allocatable": dict(allocatable),
            "conditions": [ready],
            "addresses": [
                {"type": "InternalIP", "address": self.network.gateway},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "standin",
                "architecture": "amd64",
                "operatingSystem": "linux",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "",
                "osImage": "",
                "containerRuntimeVersion": "",
                "kubeProxyVersion": "",
            },
        }
        self._core.patch_node_status(name, {"status": status})

    def _renew_lease(self, name: str) -> None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": _LEASE_SECONDS, "renewTime": now},
        }
        try:
            self._coord.patch_namespaced_lease(name, "kube-node-lease", {"spec": body["spec"]})
        except ApiException as exc:
            if exc.status != 404:
                raise
            self._coord.create_namespaced_lease("kube-node-lease", body)

    # -- the loop: level-triggered, from what the API server says --------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # keep serving; the test that depends on it will say what failed
                log.exception("kubelet stand-in tick failed")
                self.errors.append(repr(exc))
            self._stop.wait(_TICK)

    def _tick(self) -> None:
        if time.monotonic() >= self._lease_due:
            for name in self.nodes:
                self._renew_lease(name)
            self._lease_due = time.monotonic() + 10
        listed = _items(self._core.list_pod_for_all_namespaces(_preload_content=False))
        seen = set()
        for obj in (p for p in listed if p["spec"].get("nodeName") in self.nodes):
            meta = obj["metadata"]
            seen.add(meta["uid"])
            with self._lock:
                known = self._pods.get(meta["uid"])
            if meta.get("deletionTimestamp"):
                if known is not None:
                    known.stop.set()
                    if known.stopped.is_set():
                        self._forget(known, delete=True)
                else:
                    self._delete(meta["namespace"], meta["name"], meta["uid"])
            elif known is None and (obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                self._admit(obj)
        with self._lock:
            gone = [p for uid, p in self._pods.items() if uid not in seen]
        for pod in gone:  # deleted outright (grace 0, a namespace's end): stop what still runs
            pod.stop.set()
            if pod.stopped.is_set():
                self._forget(pod, delete=False)
        self._update_hosts()

    def _admit(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        pod = _Pod(
            meta["namespace"],
            meta["name"],
            meta["uid"],
            obj["spec"]["nodeName"],
            self.workdir / f"p{meta['uid'][:6]}",
        )
        with self._lock:
            self._pods[pod.uid] = pod
        threading.Thread(target=self._run, args=(pod, obj), name=f"pod-{pod.name}", daemon=True).start()

    def _forget(self, pod: _Pod, delete: bool) -> None:
        with self._lock:
            self._pods.pop(pod.uid, None)
        if delete:
            self._delete(pod.namespace, pod.name, pod.uid)

    def _delete(self, namespace: str, name: str, uid: str) -> None:
        """Remove a Pod whose containers are gone from the API (grace period 0), as the kubelet does."""
        options = client.V1DeleteOptions(
            grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid)
        )
        try:
            self._core.delete_namespaced_pod(name, namespace, body=options)
        except ApiException as exc:
            if exc.status not in (404, 409):  # gone already, or a new Pod of that name
                raise

    def _update_hosts(self) -> None:
        entries: list[tuple[str, list[str]]] = []
        with self._lock:
            entries += [(p.ip, [p.name]) for p in self._pods.values() if p.ip]
        by_address: dict[str, list[str]] = {}
        for eps in _items(self._discovery.list_endpoint_slice_for_all_namespaces(_preload_content=False)):
            service = (eps["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
            if not service:
                continue
            ns = eps["metadata"]["namespace"]
            for endpoint in eps.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                for address in endpoint["addresses"]:
                    names = by_address.setdefault(address, [])
                    names += [f"{service}.{ns}.svc.cluster.local", f"{service}.{ns}.svc", f"{service}.{ns}"]
        entries += sorted(by_address.items())
        self.network.set_names(entries)

    # -- one Pod -----------------------------------------------------------------------------------------

    def _run(self, pod: _Pod, obj: dict[str, Any]) -> None:
        try:
            self._run_pod(pod, obj)
        except Exception as exc:
            log.exception("pod %s/%s", pod.namespace, pod.name)
            self.errors.append(f"{pod.namespace}/{pod.name}: {exc!r}")
        finally:
            self._kill_all(pod, obj)
            if pod.netns:
                self.network.remove(pod.netns)
                pod.ip = None  # the address may go to another Pod now
            pod.stopped.set()

    def _run_pod(self, pod: _Pod, obj: dict[str, Any]) -> None:
        spec = obj["spec"]
        pod.started_at = _now()
        while not self._prepare(pod, obj):
            self._post(pod, obj)
            if pod.stop.wait(1.0):
                return
        pod.netns, pod.ip = self.network.add()
        obj.setdefault("status", {})["podIP"] = pod.ip  # for fieldRef status.podIP
        obj["status"]["hostIP"] = self.network.gateway
        self._prepare(pod, obj)  # again: env that refers to the Pod's address
        policy = spec.get("restartPolicy", "Always")
        for container in pod.init:
            self._post(pod, obj)
            while not pod.stop.is_set():
                self._start(pod, container)
                code = self._wait_exit(pod, container)
                if code == 0 or code is None:
                    break
                if policy == "Never":
                    pod.phase = "Failed"
                    self._post(pod, obj)
                    return
                container.restarts += 1
            if pod.stop.is_set():
                return
        for container in pod.main:
            self._start(pod, container)
        pod.phase = "Running"
        self._post(pod, obj)
        while not pod.stop.is_set():
            self._reap(pod, policy)
            self._probe(pod)
            self._post(pod, obj)
            if pod.phase in ("Succeeded", "Failed"):
                return
            pod.stop.wait(_TICK)

    def _prepare(self, pod: _Pod, obj: dict[str, Any]) -> bool:
        """Resolve every container's env (CreateContainerConfigError while something is missing)."""
        spec = obj["spec"]
        try:
            init = [self._container(pod, obj, c) for c in spec.get("initContainers") or []]
            main = [self._container(pod, obj, c) for c in spec["containers"]]
        except EnvResolutionError as exc:
            pod.waiting = ("CreateContainerConfigError", str(exc))
            return False
        pod.waiting = None
        pod.init, pod.main = init, main
        return True

    def _container(self, pod: _Pod, obj: dict[str, Any], spec: dict[str, Any]) -> _Container:
        if not spec.get("command"):
            raise EnvResolutionError(
                f"container {spec['name']} has no command: the kubelet stand-in runs no images"
            )
        tmp = pod.root / "t"  # short: Ray keeps Unix sockets below it (107 bytes at most)
        env = self.image_env(spec.get("image", ""), tmp) | resolve_env(obj, spec, self._read)
        env |= {"HOSTNAME": pod.name, "JAX_PLATFORMS": "cpu", "TMPDIR": str(tmp)}
        mounts = self._volume_mounts(pod, obj, spec)
        return _Container(spec, env, pod.root / f"{spec['name']}.log", mounts)

    def _volume_mounts(
        self, pod: _Pod, obj: dict[str, Any], spec: dict[str, Any]
    ) -> list[tuple[Path, str, bool]]:
        """The container's mounts of `hostPath` volumes, and of `secret` ones, their files written
        below the Pod's folder."""
        volumes = {v["name"]: v for v in obj["spec"].get("volumes") or []}
        mounts = []
        for mount in spec.get("volumeMounts") or []:
            volume = volumes.get(mount["name"]) or {}
            if "hostPath" in volume:
                mounts.append(
                    (_host_folder(volume["hostPath"]), mount["mountPath"], bool(mount.get("readOnly")))
                )
                continue
            source = volume.get("secret")
            if source is None:
                continue
            name = source["secretName"]
            try:
                data = self._read(pod.namespace, "Secret", name)
            except EnvResolutionError:
                if source.get("optional"):
                    data = {}
                else:
                    raise
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            folder = pod.root / "volumes" / mount["name"]
            folder.mkdir(parents=True, exist_ok=True)
            for item in items:
                if item["key"] not in data:
                    raise EnvResolutionError(
                        f"couldn't find key {item['key']} in Secret {pod.namespace}/{name}"
                    )
                target = folder / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(data[item["key"]])
                target.chmod(int(item.get("mode", source.get("defaultMode", 0o644))))
            mounts.append((folder, str(mount["mountPath"]), bool(mount.get("readOnly"))))
        return mounts

    def _start(self, pod: _Pod, container: _Container) -> None:
        assert pod.netns is not None
        workdir = pod.root / "work" / container.name
        for d in (workdir, pod.root / "t", Path(container.env.get("HOME", pod.root / "home"))):
            d.mkdir(parents=True, exist_ok=True)
        argv = [*container.spec["command"], *container.spec.get("args", [])]
        pid_ns = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--"]
        if container.mounts:  # --mount-proc gives the container a private mount namespace: bind there
            bind = 'mkdir -p "$1" && mount --bind "$2" "$1" && '
            read_only = 'mount -o remount,bind,ro "$1" && '
            script = "".join(
                bind + (read_only if ro else "") + "shift 2 && " for _, _, ro in container.mounts
            )
            places = [part for source, path, _ in container.mounts for part in (path, str(source))]
            argv = ["bash", "-c", f'{script}exec "$@"', "mounts", *places, *argv]
        with container.log.open("ab") as out:
            container.popen = subprocess.Popen(
                self.network.command(pod.netns, pod.name, pod.namespace, [*pid_ns, *argv]),
                cwd=container.spec.get("workingDir") or workdir,
                env=container.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=pdeathsig,
            )
        container.started_at, container.finished_at, container.exit_code = _now(), None, None
        container.ready = False
        container.probe_failures = 0
        probe = container.spec.get("readinessProbe") or {}
        container.probe_due = time.monotonic() + float(probe.get("initialDelaySeconds", 0))

    def _wait_exit(self, pod: _Pod, container: _Container) -> int | None:
        while not pod.stop.is_set():
            if self._exited(container):
                return container.exit_code
            pod.stop.wait(_TICK)
        return None

    @staticmethod
    def _exited(container: _Container) -> bool:
        if container.popen is None or container.exit_code is not None:
            return container.exit_code is not None
        code = container.popen.poll()
        if code is None:
            return False
        container.exit_code = code if code >= 0 else 128 - code
        container.finished_at = _now()
        container.ready = False
        return True

    def _reap(self, pod: _Pod, policy: str) -> None:
        for container in pod.main:
            if self._exited(container) and container.exit_code is not None:
                restart = policy == "Always" or (policy == "OnFailure" and container.exit_code != 0)
                if restart and not pod.stop.is_set():
                    container.restarts += 1
                    self._start(pod, container)
        if all(c.exit_code is not None for c in pod.main):
            pod.phase = "Succeeded" if all(c.exit_code == 0 for c in pod.main) else "Failed"

    def _probe(self, pod: _Pod) -> None:
        with self._lock:
            held = any(match(pod.namespace, pod.name) for match in self._unready)
        for container in pod.main:
            if not container.running():
                continue
            probe = container.spec.get("readinessProbe")
            if not probe:
                container.ready = True
                continue
            if time.monotonic() < container.probe_due:
                continue
            container.probe_due = time.monotonic() + float(probe.get("periodSeconds", 10))
            if not held and self._probe_passes(pod, probe):
                container.ready, container.probe_failures = True, 0
            else:
                container.probe_failures += 1
                if container.probe_failures >= int(probe.get("failureThreshold", 3)):
                    container.ready = False

    def _probe_passes(self, pod: _Pod, probe: Mapping[str, Any]) -> bool:
        assert pod.netns is not None and pod.ip is not None
        timeout = float(probe.get("timeoutSeconds", 1))
        if "exec" in probe:
            try:
                proc = subprocess.run(
                    ["ip", "netns", "exec", pod.netns, *probe["exec"]["command"]],
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return False
            return proc.returncode == 0
        if "httpGet" in probe:
            get = probe["httpGet"]
            url = f"http://{pod.ip}:{get['port']}{get.get('path', '/')}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    return 200 <= int(response.status) < 400
            except OSError:
                return False
        if "tcpSocket" in probe:
            try:
                socket.create_connection((pod.ip, int(probe["tcpSocket"]["port"])), timeout).close()
            except OSError:
                return False
            return True
        return True

    def _kill_all(self, pod: _Pod, obj: dict[str, Any]) -> None:
        running = [c for c in (*pod.init, *pod.main) if c.running()]
        if not running:
            return
        grace = min(float(obj["spec"].get("terminationGracePeriodSeconds", 30)), self.max_grace_seconds)
        for container in running:
            self._signal(container, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(not self._exited(c) for c in running):
            time.sleep(_TICK)
        for container in running:
            if not self._exited(container):
                self._signal(container, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    assert container.popen is not None
                    container.popen.wait(10)
                self._exited(container)

    @staticmethod
    def _signal(container: _Container, sig: int) -> None:
        """`sig` to the container's main process (PID 1 of its PID namespace), as a runtime does."""
        assert container.popen is not None
        children = Path(f"/proc/{container.popen.pid}/task/{container.popen.pid}/children")
        with contextlib.suppress(OSError):
            for pid in children.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(container.popen.pid, sig)

    # -- status ------------------------------------------------------------------------------------------

    def _post(self, pod: _Pod, obj: dict[str, Any]) -> None:
        image = {
            c["name"]: c.get("image", "")
            for c in (*obj["spec"].get("initContainers", []), *obj["spec"]["containers"])
        }
        init_done = bool(pod.main) and all(c.popen is not None for c in pod.main)
        ready = pod.phase == "Running" and all(c.ready for c in pod.main)
        status: dict[str, Any] = {
            "phase": pod.phase,
            "startTime": pod.started_at,
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": str(init_done)},
                {"type": "ContainersReady", "status": str(ready)},
                {"type": "Ready", "status": str(ready)},
            ],
        }
        if pod.ip:
            status |= {
                "podIP": pod.ip,
                "podIPs": [{"ip": pod.ip}],
                "hostIP": self.network.gateway,
                "hostIPs": [{"ip": self.network.gateway}],
            }
        if pod.waiting is not None:
            reason, message = pod.waiting
            status["containerStatuses"] = [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
                for c in obj["spec"]["containers"]
            ]
        else:
            if pod.init:
                status["initContainerStatuses"] = [c.status(image[c.name]) for c in pod.init]
            status["containerStatuses"] = [c.status(image[c.name]) for c in pod.main]
        if status == pod.last_status:
            return
        for c in status["conditions"]:
            if pod.transitions.get(c["type"], ("", ""))[0] != c["status"]:
                pod.transitions[c["type"]] = (c["status"], _now())
        posted = {
            **status,
            "conditions": [
                {**c, "lastTransitionTime": pod.transitions[c["type"]][1]} for c in status["conditions"]
            ],
        }
        try:
            self._core.patch_namespaced_pod_status(
                pod.name, pod.namespace, {"status": posted}, _content_type=_STRATEGIC
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        pod.last_status = status
