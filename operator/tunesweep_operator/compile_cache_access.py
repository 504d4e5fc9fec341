"""How the Ray pods reach the shared JAX compile cache: TUNESWEEP_COMPILE_CACHE on their containers and,
for a path, the settings' volume mounted there. Without a location the image's own (per-pod) cache is
used."""

from __future__ import annotations

from tunesweep_evidence import compile_cache_location
from tunesweep_evidence.pod_overlay import COMPILE_CACHE_VOLUME

from .evidence_access import PodAccess
from .settings import OperatorSettings


def compile_cache_access(settings: OperatorSettings) -> PodAccess:
    location = settings.compile_cache_location
    if not location:
        return PodAccess()
    env = [{"name": compile_cache_location.ENV, "value": location}]
    if settings.compile_cache_volume is None:
        return PodAccess(env=env)
    return PodAccess(
        env=env,
        volumes=[{"name": COMPILE_CACHE_VOLUME, **settings.compile_cache_volume}],
        volume_mounts=[{"name": COMPILE_CACHE_VOLUME, "mountPath": location}],
    )
