"""Pod networking for the kubelet stand-in, as a CNI plugin and cluster DNS would provide it.

Each Pod gets a network namespace of its own, joined to one bridge by a veth pair, so every Pod has its
own address and its own ports: Ray's fixed ports (6379, 8265, 8080, 52365, 10001) never collide between
the head and worker Pods of one machine, exactly as between real Pods.

* The bridge ``tsw<pid>`` holds the gateway ``10.244.<k>.1/24`` in the host's namespace (where the
  control plane, KubeRay's operator and the tests run: they reach every Pod through it); Pod *n* gets
  the namespace ``tsw<pid>-<n>`` whose ``eth0`` is ``10.244.<k>.<n>``. ``k`` is a /24 no interface of
  this machine uses, chosen under a lock so that two test sessions never share one.
* Names, as cluster DNS and the kubelet's hosts file provide them: :meth:`PodNetwork.set_names` takes
  (address, names) pairs (Service names ``<svc>.<ns>.svc.cluster.local`` for their endpoints, each Pod's
  name for its address). A small DNS server (:class:`ClusterDns`, UDP on the gateway's port 53) answers
  for them, and they are also written to a hosts file. Processes see a ``resolv.conf`` that names that
  server and that hosts file as their ``/etc/resolv.conf`` and ``/etc/hosts``, through bind mounts in a
  private mount namespace (:meth:`PodNetwork.command` for Pods, :meth:`PodNetwork.with_cluster_dns` for
  host processes such as KubeRay's operator). Both are needed: glibc reads the hosts file, while gRPC's
  c-ares resolver (Ray's GCS clients) asks a DNS server only. The hosts file is rewritten in place (one
  inode, so every bind mount sees the change).
* Leftovers of a test session that died (its pid is gone) are removed when the next one starts.

Needs root, ``ip`` (iproute2) and ``unshare`` (util-linux), as on this project's machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

_LOCK = Path("/run/tunesweep-pod-network.lock")
_NAME = re.compile(r"^tsw(\d+)$")


class PodNetworkError(RuntimeError):
    """The bridge or a Pod's namespace could not be set up."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise PodNetworkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale() -> None:
    """Bridges and namespaces of test sessions whose process is gone."""
    for line in _ip("-o", "link", "show", "type", "bridge").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        m = _NAME.match(name)
        if m and not _pid_alive(int(m.group(1))):
            _ip("link", "delete", name, check=False)
    for line in _ip("netns", "list").stdout.splitlines():
        ns = line.split()[0]
        m = re.match(r"^tsw(\d+)-\d+$", ns)
        if m and not _pid_alive(int(m.group(1))):
            kill_namespace(ns)
            _ip("netns", "delete", ns, check=False)


def _free_subnet() -> ipaddress.IPv4Network:
    used = [
        ipaddress.ip_interface(word).network
        for line in _ip("-o", "-4", "addr", "show").stdout.splitlines()
        for word in line.split()
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+/\d+", word)
    ]
    for k in range(100, 250):
        candidate = ipaddress.ip_network(f"10.244.{k}.0/24")
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise PodNetworkError("no free 10.244.k.0/24 for the Pod network")


def namespace_pids(ns: str) -> list[int]:
    out = _ip("netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_namespace(ns: str, sig: int = signal.SIGKILL) -> int:
    """Send `sig` to every process in network namespace `ns` (a Pod's processes, daemons included)."""
    pids = namespace_pids(ns)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return len(pids)


class ClusterDns:
    """A DNS server for the cluster's names: A records from :attr:`names`, NXDOMAIN for the rest."""

    def __init__(self, address: str, port: int = 53) -> None:
        self.names: Mapping[str, str] = {}
        self._closing = False
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((address, port))
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="cluster-dns", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and free the port. Closing alone would not: the serving thread's blocked
        ``recvfrom`` holds the socket, still bound, for as long as this process lives, and the next test
        session to choose this subnet could not bind its own DNS server. ``shutdown`` wakes it (Linux
        does so for unconnected UDP sockets too, though it reports ENOTCONN)."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join()
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self._sock.recvfrom(4096)
            except OSError:
                return
            if self._closing:
                return
            with contextlib.suppress(Exception):  # a malformed query gets no answer, as from any server
                self._sock.sendto(self.answer(query), peer)

    def answer(self, query: bytes) -> bytes:
        (ident, flags) = struct.unpack("!HH", query[:4])
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1 : i + 1 + query[i]].decode().lower())
            i += 1 + query[i]
        qtype = struct.unpack("!H", query[i + 1 : i + 3])[0]
        question = query[12 : i + 5]
        address = self.names.get(".".join(labels))
        rcode = 3 if address is None else 0
        answers = b""
        if address is not None and qtype == 1:  # A; other types of a known name: no data
            answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(address)
        header = struct.pack("!HHHHHH", ident, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1,
                             1 if answers else 0, 0, 0)  # fmt: skip
        return header + question + answers


class PodNetwork:
    """The bridge, the Pods' namespaces and the names (DNS and hosts file) of one test session."""

    def __init__(self, workdir: Path) -> None:
        self.bridge = f"tsw{os.getpid()}"
        self.hosts = workdir / "hosts"
        self.resolv_conf = workdir / "resolv.conf"
        self._dns: ClusterDns | None = None
        self._lock = threading.Lock()
        self._free: list[int] = []
        self._next = 2
        self._hosts_text = ""
        self.subnet: ipaddress.IPv4Network | None = None

    @property
    def gateway(self) -> str:
        assert self.subnet is not None, "PodNetwork.start() first"
        return str(self.subnet.network_address + 1)

    def start(self) -> PodNetwork:
        _LOCK.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _remove_stale()
            self.subnet = _free_subnet()
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        try:
            self._dns = ClusterDns(self.gateway)
        except OSError as err:
            _ip("link", "delete", self.bridge, check=False)
            raise PodNetworkError(f"cluster DNS on {self.gateway}:53: {err}") from err
        self.resolv_conf.write_text(f"nameserver {self.gateway}\noptions ndots:5 timeout:1 attempts:3\n")
        self.set_names([])
        return self

    def stop(self) -> None:
        if self._dns is not None:
            self._dns.close()
        for line in _ip("netns", "list").stdout.splitlines():
            ns = line.split()[0]
            if ns.startswith(f"{self.bridge}-"):
                self.remove(ns)
        _ip("link", "delete", self.bridge, check=False)

    # -- Pods --------------------------------------------------------------------------------------------

    def add(self) -> tuple[str, str]:
        """A new Pod namespace with its own loopback and eth0 on the bridge: (namespace, address)."""
        assert self.subnet is not None, "PodNetwork.start() first"
        with self._lock:
            if self._free:
                n = self._free.pop(0)
            elif self._next < self.subnet.num_addresses - 1:
                n, self._next = self._next, self._next + 1
            else:
                raise PodNetworkError(f"all addresses of {self.subnet} are in use")
        ns, veth = f"{self.bridge}-{n}", f"{self.bridge}v{n}"
        address = str(self.subnet.network_address + n)
        _ip("netns", "add", ns)
        # The kernel destroys a deleted namespace's veth once its last process is gone, which can be
        # after the address was freed: a leftover of that name is removed first.
        _ip("link", "delete", veth, check=False)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", ns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "route", "add", "default", "via", self.gateway)
        return ns, address

    def remove(self, ns: str) -> None:
        """Kill what still runs in the namespace and delete it (its veth goes with it)."""
        kill_namespace(ns)
        _ip("link", "delete", f"{self.bridge}v{ns.rsplit('-', 1)[1]}", check=False)
        _ip("netns", "delete", ns, check=False)
        with contextlib.suppress(ValueError), self._lock:
            self._free.append(int(ns.rsplit("-", 1)[1]))

    def command(self, ns: str, hostname: str, namespace: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside Pod namespace `ns`: its own hostname, cluster DNS with the search path of a Pod
        in Kubernetes namespace `namespace`."""
        resolv = self.resolv_conf.with_name(f"resolv.{namespace}.conf")
        if not resolv.exists():
            search = f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
            resolv.write_text(self.resolv_conf.read_text() + search)
        uts = ["unshare", "--uts", "--", "bash", "-c", 'hostname "$1" && shift && exec "$@"', "pod", hostname]
        return ["ip", "netns", "exec", ns, *self._mounts(resolv), *uts, *argv]

    def with_cluster_dns(self, argv: Sequence[str]) -> list[str]:
        """`argv` for a process of the host network that resolves cluster names (KubeRay's operator)."""
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            *self._mounts(self.resolv_conf),
            *argv,
        ]

    def _mounts(self, resolv: Path) -> list[str]:
        """A prefix that bind-mounts the hosts file and `resolv` in this mount namespace, then execs."""
        script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"'
        return ["bash", "-c", script, "dns", str(self.hosts), str(resolv)]

    # -- names -------------------------------------------------------------------------------------------

    def set_names(self, entries: Sequence[tuple[str, Sequence[str]]]) -> bool:
        """Serve (address, names) pairs through DNS and the hosts file; False when nothing changed."""
        if self._dns is not None:
            self._dns.names = {name.lower(): addr for addr, names in entries for name in names}
        lines = ["127.0.0.1 localhost", *(f"{addr} {' '.join(names)}" for addr, names in entries)]
        text = "\n".join(lines) + "\n"
        if text == self._hosts_text:
            return False
        self.hosts.parent.mkdir(parents=True, exist_ok=True)
        self.hosts.touch()
        with self.hosts.open("r+") as f:  # in place: the bind mounts hold this inode
            f.write(text)
            f.truncate()
        self._hosts_text = text
        return True
