"""JAX's persistent compilation cache, shared by every trial that sees its location.

Each Ray trial is its own process, so each trial turns the cache on for itself. Everything is cached
(no minimum compile time or entry size): a trial whose shapes an earlier trial compiled skips
compilation, since the hyperparameters a sweep varies are values in the optimizer state, not constants.

The location (TUNESWEEP_COMPILE_CACHE, else ~/.cache/tunesweep/jax) may be shared storage: a volume
every Ray pod mounts, or a gs:// URI (`tunesweep_evidence.compile_cache_location`). Below it each JAX
version and platform gets a folder of its own (`folder_name`), so that pods of other accelerators or
topologies sharing it never read each other's executables, and each can be cleared on its own.

Hits and misses are counted from JAX's `jax.monitoring` events: a hit is an executable read from the
cache, a miss one compiled and written to it (JAX records `cache_misses` when it writes).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tunesweep_evidence import compile_cache_location
from tunesweep_evidence.documents import AcceleratorInfo, CompileCacheUse

from . import environment

CACHE_ENV = compile_cache_location.ENV
HIT_EVENT = "/jax/compilation_cache/cache_hits"
MISS_EVENT = "/jax/compilation_cache/cache_misses"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class CacheLocationError(ValueError):
    """TUNESWEEP_COMPILE_CACHE names a place JAX's cache cannot use."""


@dataclass(frozen=True)
class Counts:
    hits: int = 0
    misses: int = 0


@dataclass
class _Cache:
    folder: str | None = None
    """Where this process's cache is; None until `enable`."""
    counts: Counts = Counts()


_cache = _Cache()


def location() -> str:
    """The configured cache location (the shared part, without the platform's folder)."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if not configured:
        return str(Path.home() / ".cache" / "tunesweep" / "jax")
    problem = compile_cache_location.problem(configured)
    if problem:
        raise CacheLocationError(f"{CACHE_ENV}: {problem}")
    return configured


def folder_name(jax_version: str, jaxlib_version: str, accelerator: AcceleratorInfo) -> str:
    """The subfolder of one JAX version and platform, e.g. `jax-0.8.1_jaxlib-0.8.1/tpu-TPU_v5_lite-4`."""
    versions = f"jax-{_safe(jax_version)}_jaxlib-{_safe(jaxlib_version)}"
    platform = "-".join(_safe(part) for part in (accelerator.platform, accelerator.device_kind))
    return f"{versions}/{platform}-{accelerator.count}"


def enable() -> str:
    """Turn the cache on for this process (before its first compilation) and count its hits and
    misses from now on; returns its folder."""
    import jax
    import jaxlib
    from jax import monitoring
    from jax.experimental.compilation_cache import compilation_cache

    platform = folder_name(jax.__version__, jaxlib.__version__, environment.jax_accelerator())
    folder = f"{location().rstrip('/')}/{platform}"
    if _cache.folder not in (None, folder):
        # JAX opens its cache once per process, at the first compilation after it is configured:
        # a process that moves it (another location) must have JAX open it again
        compilation_cache.reset_cache()
    jax.config.update("jax_compilation_cache_dir", folder)  # JAX creates it at the first compilation
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if _cache.folder is None:  # one listener per process, however many trials it runs
        monitoring.register_event_listener(_count)
    _cache.folder = folder
    return folder


def counts() -> Counts:
    """This process's hits and misses so far."""
    return _cache.counts


def use_since(start: Counts) -> CompileCacheUse | None:
    """The cache's use since `start` (a trial's share of its process's counts); None when it is off."""
    if _cache.folder is None:
        return None
    now = _cache.counts
    return CompileCacheUse(folder=_cache.folder, hits=now.hits - start.hits, misses=now.misses - start.misses)


def _count(event: str, **_: object) -> None:
    now = _cache.counts
    if event == HIT_EVENT:
        _cache.counts = Counts(now.hits + 1, now.misses)
    elif event == MISS_EVENT:
        _cache.counts = Counts(now.hits, now.misses + 1)


def _safe(part: str) -> str:
    """`part` as one path segment: runs of anything but letters, digits, `.`, `_` and `-` become `_`."""
    return _UNSAFE.sub("_", part).strip("._") or "unknown"
