"""What ran a trial: host, Python, accelerator, and framework versions (for the run manifest).

Under Ray (a sweep's trial process) the host also names the Ray node and its IP; a standalone
`tunesweep train` never imports Ray for it.
"""

from __future__ import annotations

import platform
import socket
import sys
from importlib import metadata

from tunesweep_evidence.documents import AcceleratorInfo, HostInfo

DISTRIBUTIONS = ("tunesweep-trainer", "jax", "jaxlib", "flax", "optax", "google-tunix", "qwix", "ray")


def host(accelerator: AcceleratorInfo) -> HostInfo:
    node_id, node_ip = ray_node()
    return HostInfo(
        hostname=socket.gethostname(),
        python=platform.python_version(),
        accelerator=accelerator,
        ray_node_id=node_id,
        node_ip=node_ip,
    )


def ray_node() -> tuple[str | None, str | None]:
    """This process's Ray node id and IP when it runs under Ray (a Ray worker, or a driver
    connected to Ray), else (None, None)."""
    ray = sys.modules.get("ray")  # a process under Ray has imported it; never import it here
    if ray is None or not ray.is_initialized():
        return None, None
    from ray.util import get_node_ip_address

    return ray.get_runtime_context().get_node_id(), get_node_ip_address()


def versions() -> dict[str, str]:
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
