"""JAX's persistent compilation cache, shared by every trial on a machine.

Each Ray trial is its own process, so each trial turns the cache on for itself. Everything is cached
(no minimum compile time or entry size): a trial whose shapes an earlier trial compiled skips
compilation, since the hyperparameters a sweep varies are values in the optimizer state, not constants.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "TUNESWEEP_COMPILE_CACHE"


def cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "tunesweep" / "jax")


def enable() -> str:
    """Turn the cache on for this process (before its first compilation); returns its folder."""
    import jax

    folder = cache_dir()
    Path(folder).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
