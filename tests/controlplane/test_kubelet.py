"""The kubelet stand-in (tests/support/kubelet.py), the project's one test double, on the real control plane.

Each test creates real Pods (plain ``bash -c`` commands: images are ignored), lets kube-scheduler bind
them to the stand-in's Nodes, and asserts both what the API says (Pod status, as a kubelet reports it)
and what the Pods' processes observed: they write files under the test's ``tmp_path`` (the Pods share
this machine's file system), passed to them as arguments. Every wait polls a condition with a deadline
(:data:`TIMEOUT`) and, on timeout, says what it waited for and what it saw last.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.operator.cluster import wait_until
from tests.support.kubelet import KubeletStandIn

Pod = dict[str, Any]

TIMEOUT = 90.0  # generous: a loaded 2-core machine runs the control plane, the Pods and the tests
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
TPU_TOLERATION = {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}
TPU_V6E_2X2 = {
    "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
    "cloud.google.com/gke-tpu-topology": "2x2",
}


# -- Pods: manifests, reads and waits -----------------------------------------------------------------------


def pod_manifest(
    name: str,
    script: str,
    *args: str,
    restart: str = "Never",
    env: Sequence[Mapping[str, Any]] = (),
    labels: Mapping[str, str] | None = None,
    resources: Mapping[str, Any] | None = None,
    tolerations: Sequence[Mapping[str, str]] = (),
    node_selector: Mapping[str, str] | None = None,
    readiness: Mapping[str, Any] | None = None,
) -> Pod:
    """A Pod with one container, ``main``, that runs ``bash -c script name *args`` ($1... are `args`)."""
    container: dict[str, Any] = {
        "name": "main",
        "image": "ignored.example/none:latest",
        "command": ["bash", "-c", script, name, *args],
        "env": [dict(e) for e in env],
    }
    if resources:
        container["resources"] = dict(resources)
    if readiness:
        container["readinessProbe"] = dict(readiness)
    spec: dict[str, Any] = {
        "restartPolicy": restart,
        "containers": [container],
        "tolerations": [dict(t) for t in tolerations],
        "terminationGracePeriodSeconds": 5,
    }
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": spec,
    }


def phase(pod: Pod) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def condition(pod: Pod, type_: str) -> dict[str, Any]:
    """The Pod's condition `type_` ({} when it has none)."""
    found = [c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == type_]
    return found[0] if found else {}


def ready(pod: Pod) -> bool:
    return condition(pod, "Ready").get("status") == "True"


def main_status(pod: Pod) -> dict[str, Any]:
    """The containerStatus of container ``main`` ({} while there is none)."""
    found = [c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c["name"] == "main"]
    return found[0] if found else {}


def main_state(pod: Pod) -> tuple[str, dict[str, Any]]:
    """("waiting" | "running" | "terminated", its details) of container ``main``; ("", {}) while unknown."""
    state = main_status(pod).get("state") or {}
    return next(iter(state.items()), ("", {}))


def read_when_written(path: Path, timeout: float = TIMEOUT) -> str:
    """The text of `path` once a Pod's process has written a whole line to it."""
    return wait_until(
        lambda: path.exists() and (text := path.read_text()).endswith("\n") and text,
        timeout,
        lambda: f"a Pod's process to write {path} (exists: {path.exists()})",
    )


def processes_with(token: str) -> list[int]:
    """Host pids of the live processes whose command line contains `token`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline:
                pids.append(int(entry.name))
    return pids


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


class Pods:
    """The Pods of one test's namespace, read as the API's JSON."""

    def __init__(self, core: client.CoreV1Api, kubelet: KubeletStandIn, namespace: str) -> None:
        self.core = core
        self.kubelet = kubelet
        self.namespace = namespace

    def create(self, manifest: Pod) -> Pod:
        """Create the Pod; the object as the API server stored it."""
        response = self.core.create_namespaced_pod(self.namespace, manifest, _preload_content=False)
        created: Pod = json.loads(response.data)
        return created

    def get(self, name: str) -> Pod | None:
        try:
            response = self.core.read_namespaced_pod(name, self.namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        pod: Pod = json.loads(response.data)
        return pod

    def wait(self, name: str, wanted: Callable[[Pod], object], what: str, timeout: float = TIMEOUT) -> Pod:
        """Until Pod `name` satisfies `wanted`; that Pod."""
        seen: list[Pod | None] = [None]

        def probe() -> Pod | None:
            seen[0] = self.get(name)
            return seen[0] if seen[0] is not None and wanted(seen[0]) else None

        return wait_until(probe, timeout, lambda: f"Pod {name}: {what}; now {self.describe(name, seen[0])}")

    def wait_phase(self, name: str, *phases: str, timeout: float = TIMEOUT) -> Pod:
        return self.wait(name, lambda p: phase(p) in phases, f"phase in {phases}", timeout)

    def wait_ready(self, name: str, value: bool, timeout: float = TIMEOUT) -> Pod:
        return self.wait(
            name,
            lambda p: phase(p) == "Running" and ready(p) == value,
            f"Running with Ready={value}",
            timeout,
        )

    def wait_gone(self, name: str, timeout: float = TIMEOUT) -> None:
        seen: list[Pod | None] = [None]

        def gone() -> bool:
            seen[0] = self.get(name)
            return seen[0] is None

        wait_until(gone, timeout, lambda: f"Pod {name} to leave the API; now {self.describe(name, seen[0])}")

    def describe(self, name: str, pod: Pod | None) -> str:
        """What a failure message needs: the Pod's status in short, its output, the stand-in's errors."""
        if pod is None:
            return "absent from the API"
        status = pod.get("status") or {}
        summary = {
            "phase": status.get("phase"),
            "nodeName": pod["spec"].get("nodeName"),
            "podIP": status.get("podIP"),
            "conditions": {
                c["type"]: [c["status"], c.get("reason"), c.get("message")]
                for c in status.get("conditions") or []
            },
            "containerStatuses": [
                {k: c.get(k) for k in ("name", "ready", "restartCount", "state")}
                for c in status.get("containerStatuses") or []
            ],
        }
        output = self.kubelet.pod_log(self.namespace, name)[-2000:]
        return (
            f"{json.dumps(summary, indent=1)}\ncontainer output:\n{output}\n"
            f"kubelet stand-in errors: {self.kubelet.errors[-5:]}"
        )


@pytest.fixture(autouse=True)
def no_kubelet_errors(kubelet: KubeletStandIn) -> Iterator[None]:
    """The stand-in's loop and Pod threads raise nothing while a test runs."""
    before = len(kubelet.errors)
    yield
    assert kubelet.errors[before:] == []


@pytest.fixture
def core(k8s_api: Any) -> client.CoreV1Api:
    return client.CoreV1Api(k8s_api)


@pytest.fixture
def pods(core: client.CoreV1Api, kubelet: KubeletStandIn, namespace: str) -> Pods:
    """The test's namespace, once it has the ``default`` ServiceAccount: the API server refuses Pods
    before the controller-manager made it."""

    def has_default_account() -> bool:
        try:
            core.read_namespaced_service_account("default", namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    wait_until(has_default_account, TIMEOUT, f"the ServiceAccount {namespace}/default")
    return Pods(core, kubelet, namespace)


# -- 1. A Pod runs ------------------------------------------------------------------------------------------


def test_pod_goes_pending_running_succeeded(pods: Pods, tmp_path: Path) -> None:
    script = 'echo started > "$1/started"; until [ -e "$1/go" ]; do sleep 0.1; done; echo finished'
    created = pods.create(pod_manifest("runs", script, str(tmp_path)))
    assert phase(created) == "Pending"

    running = pods.wait_phase("runs", "Running")
    assert main_state(running)[0] == "running"
    assert running["status"]["podIP"] and running["status"]["startTime"]
    assert read_when_written(tmp_path / "started") == "started\n"
    assert phase(pods.get("runs") or {}) == "Running"  # its process waits for "go"

    (tmp_path / "go").touch()
    done = pods.wait_phase("runs", "Succeeded", "Failed")
    assert phase(done) == "Succeeded", pods.describe("runs", done)
    kind, terminated = main_state(done)
    assert kind == "terminated"
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert main_status(done)["restartCount"] == 0
    assert not ready(done)
    assert pods.kubelet.pod_log(pods.namespace, "runs") == "finished\n"


def test_failing_command_fails_the_pod_with_its_exit_code(pods: Pods, tmp_path: Path) -> None:
    pods.create(pod_manifest("fails", 'echo run >> "$1/runs"; echo about to fail >&2; exit 3', str(tmp_path)))

    done = pods.wait_phase("fails", "Succeeded", "Failed")
    assert phase(done) == "Failed", pods.describe("fails", done)
    kind, terminated = main_state(done)
    assert kind == "terminated"
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert main_status(done)["restartCount"] == 0
    assert (tmp_path / "runs").read_text() == "run\n"  # restartPolicy Never: run once
    assert "about to fail" in pods.kubelet.pod_log(pods.namespace, "fails")


def test_on_failure_restarts_until_the_command_succeeds(pods: Pods, tmp_path: Path) -> None:
    # run 1 exits 1, run 2 exits 2, run 3 waits for "go" and then succeeds
    script = """
        echo run >> "$1/runs"
        runs=$(wc -l < "$1/runs")
        [ "$runs" -ge 3 ] || exit "$runs"
        until [ -e "$1/go" ]; do sleep 0.1; done
    """
    pods.create(pod_manifest("retries", script, str(tmp_path), restart="OnFailure"))

    pods.wait(
        "retries",
        lambda p: main_status(p).get("restartCount") == 2 and main_state(p)[0] == "running",
        "container main running again after 2 restarts",
    )
    assert phase(pods.get("retries") or {}) == "Running"
    (tmp_path / "go").touch()

    done = pods.wait_phase("retries", "Succeeded", "Failed")
    assert phase(done) == "Succeeded", pods.describe("retries", done)
    assert main_status(done)["restartCount"] == 2
    assert main_state(done)[1]["exitCode"] == 0
    assert (tmp_path / "runs").read_text() == "run\n" * 3


# -- 2. Scheduling is kube-scheduler's ----------------------------------------------------------------------

PLACEMENTS = {
    # name: (limits, tolerations, nodeSelector, the Node the scheduler must choose)
    "gpu": ({"nvidia.com/gpu": "1"}, [GPU_TOLERATION], None, "gpu-pool"),
    "tpu": ({"google.com/tpu": "4"}, [TPU_TOLERATION], TPU_V6E_2X2, "tpu-v6e-2x2-pool"),
}


@pytest.mark.parametrize("accelerator", sorted(PLACEMENTS))
def test_pod_lands_on_the_node_with_its_accelerator(pods: Pods, tmp_path: Path, accelerator: str) -> None:
    limits, tolerations, selector, node = PLACEMENTS[accelerator]
    manifest = pod_manifest(
        "placed",
        'echo "$NODE" > "$1/node"',
        str(tmp_path),
        env=[{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        resources={"requests": {"cpu": "100m"}, "limits": limits},
        tolerations=tolerations,
        node_selector=selector,
    )
    pods.create(manifest)

    done = pods.wait_phase("placed", "Succeeded", "Failed")
    assert phase(done) == "Succeeded", pods.describe("placed", done)
    assert done["spec"]["nodeName"] == node
    assert condition(done, "PodScheduled")["status"] == "True"
    assert (tmp_path / "node").read_text() == f"{node}\n"


def test_pod_that_fits_no_node_stays_pending_and_never_runs(pods: Pods, tmp_path: Path) -> None:
    manifest = pod_manifest(
        "too-big",
        'echo ran > "$1/ran"',
        str(tmp_path),
        resources={"limits": {"nvidia.com/gpu": "99"}},
        tolerations=[GPU_TOLERATION],
    )
    pods.create(manifest)

    pod = pods.wait(
        "too-big",
        lambda p: condition(p, "PodScheduled").get("reason") == "Unschedulable",
        "the scheduler's PodScheduled=False/Unschedulable",
    )
    scheduled = condition(pod, "PodScheduled")
    assert scheduled["status"] == "False"
    assert "Insufficient nvidia.com/gpu" in scheduled["message"], scheduled
    assert phase(pod) == "Pending"
    assert "nodeName" not in pod["spec"]
    assert "containerStatuses" not in pod["status"]
    assert pods.kubelet.pod_tmp(pods.namespace, "too-big") is None  # the stand-in never took it
    assert not (tmp_path / "ran").exists()


# -- 3. The container's environment -------------------------------------------------------------------------


def test_env_is_resolved_as_the_kubelet_does(pods: Pods, tmp_path: Path) -> None:
    ns = pods.namespace
    pods.core.create_namespaced_secret(ns, {"metadata": {"name": "creds"}, "stringData": {"token": "s3cr3t"}})
    pods.core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"color": "teal"}})

    def field(path: str) -> dict[str, Any]:
        return {"fieldRef": {"fieldPath": path}}

    def resource(name: str, divisor: str | None = None) -> dict[str, Any]:
        ref = {"resource": name} | ({"divisor": divisor} if divisor else {})
        return {"resourceFieldRef": ref}

    env: list[dict[str, Any]] = [
        {"name": "GREETING", "value": "hello"},
        {"name": "MESSAGE", "value": "$(GREETING) world"},
        {"name": "ESCAPED", "value": "$$(GREETING)"},
        {"name": "UNKNOWN", "value": "$(NOT_DEFINED)"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
        {"name": "POD_NAME", "valueFrom": field("metadata.name")},
        {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
        {"name": "POD_IP", "valueFrom": field("status.podIP")},
        {"name": "CPU_LIMIT", "valueFrom": resource("limits.cpu")},
        {"name": "CPU_LIMIT_MILLIS", "valueFrom": resource("limits.cpu", "1m")},
        {"name": "MEMORY_LIMIT_MI", "valueFrom": resource("limits.memory", "1Mi")},
        {"name": "JAX_PLATFORMS", "value": "tpu"},  # forced to cpu: no accelerator exists here
    ]
    manifest = pod_manifest(
        "env",
        'env -0 > "$1/env"; hostname -I > "$1/addresses"',
        str(tmp_path),
        env=env,
        resources={"limits": {"cpu": "1500m", "memory": "512Mi"}},
    )
    pods.create(manifest)

    done = pods.wait_phase("env", "Succeeded", "Failed")
    assert phase(done) == "Succeeded", pods.describe("env", done)
    seen = dict(item.split("=", 1) for item in (tmp_path / "env").read_text().split("\0") if item)
    expected = {
        "GREETING": "hello",
        "MESSAGE": "hello world",
        "ESCAPED": "$(GREETING)",
        "UNKNOWN": "$(NOT_DEFINED)",
        "TOKEN": "s3cr3t",
        "COLOR": "teal",
        "POD_NAME": "env",
        "POD_NAMESPACE": ns,
        "POD_IP": done["status"]["podIP"],
        "CPU_LIMIT": "2",
        "CPU_LIMIT_MILLIS": "1500",
        "MEMORY_LIMIT_MI": "512",
        "JAX_PLATFORMS": "cpu",
        "HOSTNAME": "env",
    }
    assert {k: seen.get(k) for k in expected} == expected
    assert (tmp_path / "addresses").read_text().split() == [done["status"]["podIP"]]


def test_missing_secret_holds_the_pod_until_it_exists(pods: Pods, tmp_path: Path) -> None:
    token = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "late", "key": "token"}}}
    pods.create(pod_manifest("waits", 'echo "$TOKEN" > "$1/token"', str(tmp_path), env=[token]))

    pod = pods.wait(
        "waits",
        lambda p: main_state(p)[1].get("reason") == "CreateContainerConfigError",
        "container main waiting with reason CreateContainerConfigError",
    )
    assert (phase(pod), main_state(pod)[0]) == ("Pending", "waiting")
    assert 'secret "late" not found' in main_state(pod)[1]["message"]
    assert not (tmp_path / "token").exists()

    pods.core.create_namespaced_secret(
        pods.namespace, {"metadata": {"name": "late"}, "stringData": {"token": "arrived"}}
    )
    done = pods.wait_phase("waits", "Succeeded", "Failed")
    assert phase(done) == "Succeeded", pods.describe("waits", done)
    assert (tmp_path / "token").read_text() == "arrived\n"


# -- 4. Network identity and cluster DNS --------------------------------------------------------------------

# $0 is the Pod's name: it serves a directory of its own, where it wrote the hostname it sees
SERVER = """
    mkdir -p "$1/$0" && hostname > "$1/$0/hostname"
    exec python3 -m http.server 8080 --bind 0.0.0.0 --directory "$1/$0"
"""

# Resolves the headless Service and fetches through it, with Python's resolver (glibc: hosts file, then
# the cluster DNS server with the Pod's search path for the short name).
CLIENT_PY = """
import json, socket, sys, urllib.request
fqdn, out = sys.argv[1], sys.argv[2]
result = {
    "gethostbyname": socket.gethostbyname(fqdn),
    "getaddrinfo": sorted({a[4][0] for a in socket.getaddrinfo(fqdn, 8080, socket.AF_INET)}),
    "short": socket.gethostbyname("web"),
    "gethostname": socket.gethostname(),
}
with urllib.request.urlopen(f"http://{fqdn}:8080/hostname", timeout=10) as response:
    result["served_by"] = response.read().decode().strip()
with open(f"{out}/client.json", "w") as f:
    json.dump(result, f)
"""

# Cluster DNS follows the EndpointSlices a moment later, as CoreDNS does: the client retries its first lookup.
CLIENT = """
set -eu
fqdn="web.$POD_NAMESPACE.svc.cluster.local"
for _ in $(seq 120); do getent hosts "$fqdn" > "$1/getent" && break; sleep 0.5; done
getent hosts "$fqdn" > "$1/getent"
getent hosts web > "$1/getent-short"
getent hosts server-a > "$1/getent-pod"
python3 -c "$2" "$fqdn" "$1"
"""


def test_pods_have_their_own_address_hostname_and_names(pods: Pods, tmp_path: Path) -> None:
    http_probe = {"httpGet": {"port": 8080, "path": "/hostname"}, "periodSeconds": 1}
    for name in ("server-a", "server-b"):
        labels = {"app": "web", "role": name}
        pods.create(pod_manifest(name, SERVER, str(tmp_path), labels=labels, readiness=http_probe))
    a, b = (pods.wait_ready(name, True) for name in ("server-a", "server-b"))

    # each has an address of its own on the Pod network, and its own port 8080
    ip_a, ip_b = a["status"]["podIP"], b["status"]["podIP"]
    assert ip_a != ip_b
    subnet = pods.kubelet.network.subnet
    assert subnet is not None and {ipaddress.ip_address(ip_a), ipaddress.ip_address(ip_b)} <= set(subnet)
    # the test process (host network) reaches each Pod's address; the hostname inside is the Pod's name
    assert http_get(f"http://{ip_a}:8080/hostname") == "server-a\n"
    assert http_get(f"http://{ip_b}:8080/hostname") == "server-b\n"

    service = {
        "metadata": {"name": "web"},
        "spec": {
            "clusterIP": "None",
            "selector": {"app": "web", "role": "server-b"},
            "ports": [{"name": "http", "port": 8080, "targetPort": 8080}],
        },
    }
    pods.core.create_namespaced_service(pods.namespace, service)
    discovery = client.DiscoveryV1Api(pods.core.api_client)
    seen: list[Any] = []

    def endpoint_addresses() -> list[str]:
        slices = discovery.list_namespaced_endpoint_slice(
            pods.namespace, label_selector="kubernetes.io/service-name=web"
        ).items
        seen[:] = [(e.addresses, e.conditions.ready) for s in slices for e in s.endpoints or []]
        return [address for addresses, is_ready in seen if is_ready for address in addresses]

    wait_until(
        lambda: endpoint_addresses() == [ip_b],
        TIMEOUT,
        lambda: f"an EndpointSlice of Service web with exactly {ip_b} ready; endpoints now {seen}",
    )

    env = [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
    pods.create(pod_manifest("client", CLIENT, str(tmp_path), CLIENT_PY, env=env))
    done = pods.wait_phase("client", "Succeeded", "Failed")
    assert phase(done) == "Succeeded", pods.describe("client", done)

    fqdn = f"web.{pods.namespace}.svc.cluster.local"
    assert (tmp_path / "getent").read_text().split()[0] == ip_b
    assert fqdn in (tmp_path / "getent").read_text().split()
    assert (tmp_path / "getent-short").read_text().split()[0] == ip_b  # through the DNS server
    assert (tmp_path / "getent-pod").read_text().split()[:2] == [ip_a, "server-a"]
    result = json.loads((tmp_path / "client.json").read_text())
    assert result == {
        "gethostbyname": ip_b,
        "getaddrinfo": [ip_b],
        "short": ip_b,
        "gethostname": "client",
        "served_by": "server-b",
    }


# -- 5. Readiness -------------------------------------------------------------------------------------------


def test_exec_readiness_probe_gates_ready(pods: Pods, tmp_path: Path) -> None:
    probes, marker = tmp_path / "probes", tmp_path / "ready"
    probe = {
        "exec": {"command": ["bash", "-c", f'echo probe >> "{probes}"; test -e "{marker}"']},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    pods.create(pod_manifest("gated", "exec sleep 600", readiness=probe))

    pods.wait_phase("gated", "Running")
    wait_until(
        lambda: probes.exists() and probes.read_text().count("\n") >= 3,
        TIMEOUT,
        lambda: f"3 readiness probes in {probes} (now: {probes.read_text() if probes.exists() else 'none'})",
    )
    pod = pods.get("gated") or {}
    assert (phase(pod), ready(pod), main_status(pod)["ready"]) == ("Running", False, False)
    assert condition(pod, "ContainersReady")["status"] == "False"

    marker.touch()
    pod = pods.wait_ready("gated", True)
    assert main_status(pod)["ready"] is True
    assert condition(pod, "ContainersReady")["status"] == "True"

    marker.unlink()  # a probe that fails again takes Ready back
    pods.wait_ready("gated", False)


def test_hold_unready_keeps_a_pod_unready(pods: Pods) -> None:
    ns = pods.namespace
    pods.kubelet.hold_unready(lambda namespace, name: namespace == ns and name == "held")
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    pods.create(pod_manifest("held", "exec sleep 600", readiness=probe))
    pods.wait_phase("held", "Running")

    # a Pod like it, started later, becomes Ready: the held one had its probes' chances by then
    pods.create(pod_manifest("free", "exec sleep 600", readiness=probe))
    pods.wait_ready("free", True)
    held = pods.get("held") or {}
    assert (phase(held), ready(held), main_status(held)["ready"]) == ("Running", False, False)


# -- 6. Deletion and lost nodes -----------------------------------------------------------------------------


def test_deleting_a_pod_stops_its_processes_and_removes_it(pods: Pods, tmp_path: Path) -> None:
    token = f"sleeper-{pods.namespace}"
    script = """
        trap 'echo TERM > "$1/terminated"; exit 0' TERM
        python3 -c 'import time; time.sleep(600)' "$2" &
        python3 -m http.server 8080 --bind 0.0.0.0 --directory "$1" &
        wait
    """
    probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    pods.create(pod_manifest("doomed", script, str(tmp_path), token, readiness=probe))
    pod = pods.wait_ready("doomed", True)
    ip = pod["status"]["podIP"]
    http_get(f"http://{ip}:8080/")
    wait_until(lambda: len(processes_with(token)) >= 2, TIMEOUT, f"the Pod's processes with {token}")

    pods.core.delete_namespaced_pod("doomed", pods.namespace)
    pods.wait_gone("doomed")
    assert (tmp_path / "terminated").read_text() == "TERM\n"  # SIGTERM first, as a kubelet does
    wait_until(
        lambda: not processes_with(token),
        TIMEOUT,
        lambda: f"no process with {token}: {processes_with(token)}",
    )
    with pytest.raises(OSError):
        socket.create_connection((ip, 8080), timeout=2).close()


def test_kill_pod_fails_it_with_exit_code_137(pods: Pods, tmp_path: Path) -> None:
    token = f"victim-{pods.namespace}"
    script = 'echo started > "$1/started"; exec python3 -c "import time; time.sleep(600)" "$2"'
    pods.create(pod_manifest("victim", script, str(tmp_path), token))
    pods.wait_phase("victim", "Running")
    read_when_written(tmp_path / "started")
    wait_until(lambda: processes_with(token), TIMEOUT, f"the Pod's process with {token}")

    assert pods.kubelet.kill_pod(pods.namespace, "victim") > 0
    done = pods.wait_phase("victim", "Succeeded", "Failed")
    assert phase(done) == "Failed", pods.describe("victim", done)
    kind, terminated = main_state(done)
    assert kind == "terminated"
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")
    assert main_status(done)["restartCount"] == 0
    wait_until(
        lambda: not processes_with(token),
        TIMEOUT,
        lambda: f"no process with {token}: {processes_with(token)}",
    )
