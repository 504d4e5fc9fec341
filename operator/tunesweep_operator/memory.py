"""The operator process's memory: glibc's malloc arenas capped before kopf starts its threads.

kopf runs the sync handlers in a thread pool, and glibc gives each thread that allocates its own
malloc arena (up to 8 per core). After a restart every sweep is handled at once; what those threads
freed stays spread over their arenas, so the process kept tens of MiB it no longer used
(`python -m bench.operator_scale`). Two arenas hold the same work without that spread.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8
"""mallopt's parameter number for the arena cap (glibc malloc.h)."""
ARENAS = 2


def cap_malloc_arenas() -> bool:
    """Cap glibc's arenas; False where the C library is not glibc (musl, macOS), which is left as is."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, ARENAS))
    except (OSError, AttributeError):
        return False
