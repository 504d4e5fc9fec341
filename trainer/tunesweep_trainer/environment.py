"""What ran a trial: host, Python, accelerator, and framework versions (for the run manifest)."""

from __future__ import annotations

import platform
import socket
from importlib import metadata

from tunesweep_evidence.documents import AcceleratorInfo, HostInfo

DISTRIBUTIONS = ("tunesweep-trainer", "jax", "jaxlib", "flax", "optax", "google-tunix", "qwix", "ray")


def host(accelerator: AcceleratorInfo) -> HostInfo:
    return HostInfo(hostname=socket.gethostname(), python=platform.python_version(), accelerator=accelerator)


def versions() -> dict[str, str]:
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
