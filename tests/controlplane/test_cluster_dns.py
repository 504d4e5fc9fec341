"""The kubelet stand-in's DNS server answers over UDP and frees its port when closed."""

from __future__ import annotations

import socket
import struct

from tests.support.pod_network import ClusterDns


def _query(name: str) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)


def _ask(port: int, name: str) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(10)
        client.sendto(_query(name), ("127.0.0.1", port))
        return client.recvfrom(4096)[0]


def test_it_answers_known_names_and_refuses_the_rest() -> None:
    dns = ClusterDns("127.0.0.1", port=0)
    try:
        dns.names = {"head.ns.svc.cluster.local": "10.244.100.7"}
        known = _ask(dns.port, "head.ns.svc.cluster.local")
        assert known[3] & 0x0F == 0 and known.endswith(socket.inet_aton("10.244.100.7"))
        assert _ask(dns.port, "other.ns.svc.cluster.local")[3] & 0x0F == 3  # NXDOMAIN
    finally:
        dns.close()


def test_closing_frees_the_port_for_the_next_server() -> None:
    """A later test session that picks the same subnet binds the same address and port 53."""
    first = ClusterDns("127.0.0.1", port=0)
    _ask(first.port, "warm.up")  # the serving thread is now blocked in recvfrom, as in a session
    first.close()
    second = ClusterDns("127.0.0.1", port=first.port)
    try:
        second.names = {"a.b": "10.0.0.1"}
        assert _ask(second.port, "a.b").endswith(socket.inet_aton("10.0.0.1"))
    finally:
        second.close()
