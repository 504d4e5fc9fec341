"""The shared JAX compile cache through the cluster path: the chart's cache volume (a node-local hostPath)
mounted into the Ray pods of two sweeps run one after the other, so the second sweep's trial, on a worker
Pod of another Ray cluster, reads what the first one compiled."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import RunManifest

from tests.operator.cluster import Cluster
from tests.operator.conftest import StartOperator
from tests.operator.ray_cluster import trial_hosts
from tests.operator.sweeps import sweep_manifest
from tests.operator.test_sweep_lifecycle import FLAX_TINY_CONFIG, apply
from tests.support.kubelet import KubeletStandIn

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def run_sweep(cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path, name: str) -> RunManifest:
    """Run a one-trial flax-lm sweep to its end; its trial's run manifest."""
    manifest = sweep_manifest(
        name,
        f"file://{tmp_path}/evidence",
        trainer={"backend": "flax-lm", "baseConfig": FLAX_TINY_CONFIG},
        searchSpace={"training.learning_rate": {"loguniform": [1.0e-3, 1.0e-2]}},  # values: same shapes
        trials={"count": 1, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 300},
    )
    apply(kubectl, namespace, manifest, tmp_path)
    status = cluster.wait_for_phase(name, ("Succeeded", "Failed"), timeout=400)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    (trial_id,) = trial_hosts(status["evidenceURI"])
    uri = layout.join(layout.trial_dir(status["evidenceURI"], trial_id), layout.RUN_MANIFEST)
    return bucket.read_document(uri, RunManifest)


def test_a_second_sweep_starts_from_the_first_ones_compilations(
    start_operator: StartOperator,
    kuberay: KubeletStandIn,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    node_folder, mount = tmp_path / "node-jax-cache", tmp_path / "mnt" / "jax-cache"
    start_operator(
        TUNESWEEP_COMPILE_CACHE_LOCATION=str(mount),
        TUNESWEEP_COMPILE_CACHE_VOLUME=json.dumps(
            {"hostPath": {"path": str(node_folder), "type": "DirectoryOrCreate"}}
        ),
    )
    first = run_sweep(cluster, kubectl, namespace, tmp_path, "cold")
    second = run_sweep(cluster, kubectl, namespace, tmp_path, "warm")

    assert first.compile_cache is not None and second.compile_cache is not None
    assert first.compile_cache.folder == second.compile_cache.folder
    platform = first.compile_cache.folder.removeprefix(f"{mount}/")
    assert platform.startswith("jax-") and platform.endswith("/cpu-cpu-1"), first.compile_cache
    # another Ray cluster's worker Pod: the second trial found the first one's executables, training
    # step included, and compiled nothing
    assert first.host.hostname != second.host.hostname
    cold, warm = first.compile_cache, second.compile_cache
    assert cold.misses > 0 and cold.hits == 0, cold
    assert warm.misses == 0 and warm.hits == cold.misses, (cold, warm)
    # the Pods wrote them through the volume: into the Node's folder, never into the mount point itself
    assert any("train_step" in entry.name for entry in (node_folder / platform).iterdir())
    assert not any(mount.iterdir())
