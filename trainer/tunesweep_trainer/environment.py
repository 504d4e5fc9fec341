"""What ran a trial: host, Python, accelerator, and framework versions (for the run manifest).

Under Ray (a sweep's trial process) the host also names the Ray node and its IP; a standalone
`tunesweep train` never imports Ray for it.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from typing import Any

from tunesweep_evidence.documents import AcceleratorInfo, HostInfo

DISTRIBUTIONS = ("tunesweep-trainer", "jax", "jaxlib", "flax", "optax", "google-tunix", "qwix", "ray")


def host(accelerator: AcceleratorInfo) -> HostInfo:
    return HostInfo(
        hostname=socket.gethostname(),
        python=platform.python_version(),
        accelerator=accelerator,
        process_id=os.getpid(),
        **ray_node(),
    )


def jax_accelerator() -> AcceleratorInfo:
    """The devices JAX trains on in this process."""
    import jax  # only a trial imports JAX

    devices = jax.devices()
    first = devices[0]
    return AcceleratorInfo(platform=first.platform, device_kind=first.device_kind, count=len(devices))


def ray_node() -> dict[str, Any]:
    """This process's Ray node id and IP, and the Ray resources granted to it, when it runs under Ray
    (a Ray worker, or a driver connected to Ray); else nothing."""
    ray = sys.modules.get("ray")  # a process under Ray has imported it; never import it here
    if ray is None or not ray.is_initialized():
        return {}
    from ray.util import get_node_ip_address

    context = ray.get_runtime_context()
    found: dict[str, Any] = {"ray_node_id": context.get_node_id(), "node_ip": get_node_ip_address()}
    if context.worker.mode == ray.WORKER_MODE:  # a driver has no resources granted to it
        found["ray_resources"] = {name: float(n) for name, n in context.get_assigned_resources().items()}
    return found


def versions() -> dict[str, str]:
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
