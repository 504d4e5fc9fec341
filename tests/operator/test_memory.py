"""The operator caps glibc's malloc arenas before kopf's threads start (see `memory`)."""

from __future__ import annotations

import platform

from tunesweep_operator.memory import cap_malloc_arenas


def test_the_arena_cap_is_taken_by_glibc_and_left_alone_elsewhere() -> None:
    assert cap_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
