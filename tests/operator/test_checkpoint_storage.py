"""The trial Pods' checkpoint cache: which checkpoints a sweep copies, their size (file:// and a real
S3-compatible server), and the emptyDir + ephemeral-storage request rendered for them (pure)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError
from tunesweep_evidence import bucket
from tunesweep_evidence.pod_overlay import CHECKPOINT_CACHE_DIR, PodTemplateOverlay
from tunesweep_operator import checkpoint_cache, handlers
from tunesweep_operator.checkpoint_cache import CheckpointSizeUnknown, bucket_checkpoints, cache_bytes
from tunesweep_operator.rayjob import render_rayjob

from tests.evidence.conftest import S3Endpoint, _moto_s3, s3_server  # noqa: F401
from tests.operator.sweeps import MOCK_BASE_CONFIG, sweep_manifest, sweep_model
from tests.operator.test_rayjob import PLAN, SETTINGS, container, env_of, worker_group

GIB = 2**30
CACHE_MOUNT = {"name": "tunesweep-checkpoint-cache", "mountPath": CHECKPOINT_CACHE_DIR}


def flax_sweep(checkpoint: str | None, search_space: dict[str, Any] | None = None, **spec: Any) -> Any:
    model: dict[str, Any] = {"name": "tiny", "max_length": 64}
    if checkpoint is not None:
        model["checkpoint"] = checkpoint
    base = {**copy.deepcopy(MOCK_BASE_CONFIG), "model": model}
    manifest = sweep_manifest(
        "ckpt-sweep",
        "s3://evidence",
        trainer={"backend": "flax-lm", "baseConfig": base},
        searchSpace=search_space or {"training.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]}},
        **spec,
    )
    return sweep_model(manifest)


def rendered(checkpoint_bytes: int | None, **spec: Any) -> dict[str, Any]:
    sweep = flax_sweep("s3://models/tiny", **spec)
    return checkpoint_cache.with_checkpoint_cache(render_rayjob(sweep, PLAN, SETTINGS), checkpoint_bytes)


def cache_volume(template: dict[str, Any]) -> dict[str, Any]:
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == "tunesweep-checkpoint-cache"]
    return volume


# ---- which checkpoints ----


def test_the_base_configs_bucket_checkpoint_is_copied() -> None:
    assert bucket_checkpoints(flax_sweep("s3://models/tiny").spec) == ["s3://models/tiny"]
    assert bucket_checkpoints(flax_sweep("gs://models/tiny").spec) == ["gs://models/tiny"]


@pytest.mark.parametrize("checkpoint", [None, "/mnt/models/tiny", "file:///mnt/models/tiny"])
def test_no_checkpoint_or_one_read_in_place_is_not_copied(checkpoint: str | None) -> None:
    assert bucket_checkpoints(flax_sweep(checkpoint).spec) == []


def test_every_searched_bucket_checkpoint_is_copied() -> None:
    searched = {"model.checkpoint": {"choice": ["s3://models/a", "/mnt/models/b", "gs://models/c"]}}
    assert bucket_checkpoints(flax_sweep("s3://models/base", searched).spec) == [
        "gs://models/c",
        "s3://models/a",
    ]
    sections = {
        "model": {
            "grid": [
                {"name": "tiny", "checkpoint": "s3://models/d"},
                {"name": "tiny", "max_length": 32},  # random init: nothing to copy
            ]
        }
    }
    assert bucket_checkpoints(flax_sweep("s3://models/base", sections).spec) == ["s3://models/d"]


def test_a_backend_that_loads_no_checkpoint_copies_none() -> None:
    sweep = flax_sweep("s3://models/tiny")
    mock = sweep.spec.model_copy(
        update={"trainer": sweep.spec.trainer.model_copy(update={"backend": "mock"})}
    )
    assert bucket_checkpoints(mock) == []


# ---- their size ----


def test_the_cache_holds_the_files_a_trial_reads() -> None:
    listing = {"model.safetensors": 5 * GIB, "config.json": 100, "tokenizer.model": 4000, "README.md": 9}
    other = {"model-00001-of-00002.safetensors": GIB, "model-00002-of-00002.safetensors": GIB}
    assert cache_bytes({"s3://a": listing, "s3://b": other}) == 7 * GIB + 4100


def test_a_checkpoint_without_weights_cannot_size_the_cache() -> None:
    with pytest.raises(CheckpointSizeUnknown, match=r"s3://models/empty holds no \*\.safetensors"):
        cache_bytes({"s3://models/tiny": {"model.safetensors": 1}, "s3://models/empty": {"config.json": 2}})


def test_sizes_are_listed_from_s3(s3_server: S3Endpoint) -> None:  # noqa: F811
    uri = f"{s3_server.uri}/models/tiny"
    bucket.write_bytes(f"{uri}/model.safetensors", b"w" * 5000)
    bucket.write_text(f"{uri}/config.json", "{}")
    bucket.write_text(f"{uri}/notes.txt", "not copied")
    assert handlers._checkpoint_bytes([uri]) == (5002, None)


def test_a_checkpoint_the_operator_cannot_list_leaves_the_size_unknown_and_says_why(
    s3_server: S3Endpoint,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = f"{s3_server.uri}/models/tiny"
    bucket.write_bytes(f"{uri}/model.safetensors", b"w")
    monkeypatch.setenv("TUNESWEEP_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # a store it cannot reach
    size, message = handlers._checkpoint_bytes([uri])
    assert size is None and message is not None
    assert f"they copy {uri}" in message and f"listing {uri}" in message
    assert "spec.resources.workerPodTemplate" in message and "ray.workerPodTemplate" in message
    assert "containers[name=ray-worker].resources.requests.ephemeral-storage" in message


def test_a_checkpoint_with_nothing_to_list_leaves_the_size_unknown(s3_server: S3Endpoint) -> None:  # noqa: F811
    uri = f"{s3_server.uri}/models/absent"
    size, message = handlers._checkpoint_bytes([uri])
    assert size is None and message is not None
    assert f"{uri} holds no *.safetensors weights that the operator can see" in message


# ---- the Pods ----


def test_the_workers_copy_into_an_emptydir_sized_from_the_checkpoint() -> None:
    rayjob = rendered(10 * GIB)
    worker = worker_group(rayjob)["template"]
    # 10 GiB + 5% = 10752Mi for the cache; + 2 GiB for the container's own writes
    assert cache_volume(worker) == {
        "name": "tunesweep-checkpoint-cache",
        "emptyDir": {"sizeLimit": "10752Mi"},
    }
    ray_worker = container(worker)
    assert CACHE_MOUNT in ray_worker["volumeMounts"]
    assert env_of(ray_worker)["TUNESWEEP_CHECKPOINT_CACHE"] == CHECKPOINT_CACHE_DIR
    assert ray_worker["resources"]["requests"] == {
        "cpu": "1",
        "memory": "1Gi",
        "ephemeral-storage": "12800Mi",
    }
    assert "ephemeral-storage" not in ray_worker["resources"]["limits"]  # over the request is no eviction
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
    assert "ephemeral-storage" not in container(head)["resources"]["requests"]  # it runs no trial
    assert all(v["name"] != "tunesweep-checkpoint-cache" for v in head["spec"].get("volumes", []))


def test_a_head_that_runs_the_trials_gets_the_cache() -> None:
    rayjob = rendered(GIB, resources={"perTrial": {"cpu": "1", "memory": "1Gi"}, "workers": {"replicas": 0}})
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
    assert cache_volume(head)["emptyDir"] == {"sizeLimit": "1076Mi"}
    assert container(head)["resources"]["requests"]["ephemeral-storage"] == "3124Mi"
    assert CACHE_MOUNT in container(head)["volumeMounts"]


def test_an_unknown_size_still_keeps_the_copy_off_the_container_layer() -> None:
    worker = worker_group(rendered(None))["template"]
    assert cache_volume(worker)["emptyDir"] == {}
    assert "ephemeral-storage" not in container(worker)["resources"]["requests"]
    assert CACHE_MOUNT in container(worker)["volumeMounts"]


@pytest.mark.parametrize(
    ("kind", "overlay_of"),
    [("requests", "chart"), ("requests", "sweep"), ("limits", "chart"), ("limits", "sweep")],
)
def test_the_users_own_ephemeral_storage_wins(kind: str, overlay_of: str) -> None:
    # A limit of the user's alone keeps the request off too: a request over its limit is no valid Pod.
    ray_worker = {"name": "ray-worker", "resources": {kind: {"ephemeral-storage": "50Gi"}}}
    overlay = {"spec": {"containers": [ray_worker]}}
    resources: dict[str, Any] = {"perTrial": {"cpu": "1", "memory": "1Gi"}, "workers": {"replicas": 1}}
    settings = SETTINGS
    if overlay_of == "chart":
        settings = replace(SETTINGS, worker_pod_template=PodTemplateOverlay.model_validate(overlay))
    else:
        resources["workerPodTemplate"] = overlay
    rayjob = render_rayjob(flax_sweep("s3://models/tiny", resources=resources), PLAN, settings)
    worker = worker_group(checkpoint_cache.with_checkpoint_cache(rayjob, 10 * GIB))["template"]
    got = container(worker)["resources"]
    assert {k: got[k].get("ephemeral-storage") for k in ("requests", "limits")} == {
        "requests": "50Gi" if kind == "requests" else None,
        "limits": "50Gi" if kind == "limits" else None,
    }
    assert cache_volume(worker)["emptyDir"] == {"sizeLimit": "10752Mi"}  # the cache is still bounded


def test_overlays_cannot_mount_over_the_checkpoint_cache() -> None:
    overlay = {
        "spec": {
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "containers": [
                {
                    "name": "ray-worker",
                    "volumeMounts": [{"name": "scratch", "mountPath": CHECKPOINT_CACHE_DIR}],
                }
            ],
        }
    }
    with pytest.raises(ValidationError, match="the operator mounts its own volume at /var/cache/tunesweep"):
        flax_sweep("s3://models/tiny", resources={"perTrial": {"cpu": "1"}, "workerPodTemplate": overlay})
