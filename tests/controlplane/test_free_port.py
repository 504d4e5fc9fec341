"""`free_port` never hands out a port twice in one process, even when the kernel gives a released port
back to the next bind to port 0 (the caller of the first one may bind it only later)."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import controlplane


def kernel_giving_back(ports: list[int]) -> type:
    """A socket class whose binds to port 0 get `ports`, in turn."""
    given = iter(ports)

    class Socket:
        def __init__(self, *_: Any) -> None:
            self._port = 0

        def __enter__(self) -> Socket:
            return self

        def __exit__(self, *_: Any) -> None:
            pass

        def bind(self, address: tuple[str, int]) -> None:
            assert address[1] == 0
            self._port = next(given)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self._port)

    return Socket


def test_a_port_given_back_by_the_kernel_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controlplane, "_HANDED_OUT", set())
    fake = SimpleNamespace(
        socket=kernel_giving_back([41001, 41001, 41001, 41002]),
        AF_INET=socket.AF_INET,
        SOCK_STREAM=socket.SOCK_STREAM,
    )
    monkeypatch.setattr(controlplane, "socket", fake)  # this module's name only: other threads keep theirs
    assert [controlplane.free_port(), controlplane.free_port()] == [41001, 41002]


def test_a_handed_out_port_was_free() -> None:
    port = controlplane.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))
