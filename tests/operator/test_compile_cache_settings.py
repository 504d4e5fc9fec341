"""The shared JAX compile cache from the operator's settings to the Ray pods (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tunesweep_operator.rayjob import render_rayjob
from tunesweep_operator.settings import OperatorSettings, SettingsError
from tunesweep_operator.validation import problems

from tests.operator.sweeps import sweep_manifest, sweep_model

PVC = {"persistentVolumeClaim": {"claimName": "jax-cache"}}
IMAGE = {"TUNESWEEP_TRAINER_IMAGE_CPU": "trainer-cpu:1"}
PATH_WITH_VOLUME = {
    **IMAGE,
    "TUNESWEEP_COMPILE_CACHE_LOCATION": "/var/cache/jax/",
    "TUNESWEEP_COMPILE_CACHE_VOLUME": json.dumps(PVC),
}


def ray_containers(settings: OperatorSettings) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, Ray container) of the head and of the workers."""
    spec = render_rayjob(sweep_model(sweep_manifest("s", "s3://evidence")), "s3://evidence/p.json", settings)
    cluster = spec["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster["workerGroupSpecs"])]
    return [(t["spec"], t["spec"]["containers"][0]) for t in templates]


def test_a_path_is_the_volume_mounted_there_in_every_ray_pod() -> None:
    settings = OperatorSettings.from_env(PATH_WITH_VOLUME)
    assert (settings.compile_cache_location, settings.compile_cache_volume) == ("/var/cache/jax", PVC)
    pods = ray_containers(settings)
    assert len(pods) == 2
    for pod, container in pods:
        assert {"name": "TUNESWEEP_COMPILE_CACHE", "value": "/var/cache/jax"} in container["env"]
        assert {"name": "compile-cache", "mountPath": "/var/cache/jax"} in container["volumeMounts"]
        assert {"name": "compile-cache", **PVC} in pod["volumes"]


def test_a_gcs_uri_is_only_the_variable() -> None:
    settings = OperatorSettings.from_env(IMAGE | {"TUNESWEEP_COMPILE_CACHE_LOCATION": "gs://team-cache/jax"})
    for pod, container in ray_containers(settings):
        assert {"name": "TUNESWEEP_COMPILE_CACHE", "value": "gs://team-cache/jax"} in container["env"]
        assert "compile-cache" not in {v["name"] for v in pod.get("volumes", [])}


def test_unset_leaves_the_pods_their_own_cache() -> None:
    for pod, container in ray_containers(OperatorSettings.from_env(IMAGE)):
        assert "TUNESWEEP_COMPILE_CACHE" not in {e["name"] for e in container.get("env", [])}
        assert "compile-cache" not in {v["name"] for v in pod.get("volumes", [])}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TUNESWEEP_COMPILE_CACHE_LOCATION": "s3://cache/jax"},
            "TUNESWEEP_COMPILE_CACHE_LOCATION: 's3://cache/jax': JAX's cache would reach S3 without",
        ),
        (
            {"TUNESWEEP_COMPILE_CACHE_LOCATION": "file:///var/cache/jax"},
            "give the path itself ('/var/cache/jax')",
        ),
        (
            {"TUNESWEEP_COMPILE_CACHE_LOCATION": "jax-cache"},
            "'jax-cache' is not an absolute path (a volume the Ray pods mount) or gs://<bucket>[/prefix]",
        ),
        (
            {**PATH_WITH_VOLUME, "TUNESWEEP_COMPILE_CACHE_LOCATION": "gs://team-cache"},
            "TUNESWEEP_COMPILE_CACHE_VOLUME is mounted at TUNESWEEP_COMPILE_CACHE_LOCATION, which must then "
            "be an absolute path; got 'gs://team-cache'",
        ),
        ({"TUNESWEEP_COMPILE_CACHE_VOLUME": json.dumps(PVC)}, "must then be an absolute path; got ''"),
        (
            {**PATH_WITH_VOLUME, "TUNESWEEP_COMPILE_CACHE_VOLUME": '{"a": {}, "b": {}}'},
            "TUNESWEEP_COMPILE_CACHE_VOLUME must be one pod volume source",
        ),
    ],
)
def test_a_cache_jax_cannot_use_stops_the_operator_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        OperatorSettings.from_env(env)
    assert message in str(caught.value)


OVERLAY_MOUNT = {
    "spec": {
        "containers": [
            {"name": "ray-worker", "volumeMounts": [{"name": "data", "mountPath": "/var/cache/jax/x"}]}
        ]
    }
}


def test_no_overlay_mounts_over_the_cache_volume() -> None:
    env = {"TUNESWEEP_WORKER_POD_TEMPLATE": json.dumps(OVERLAY_MOUNT)}
    with pytest.raises(SettingsError, match="TUNESWEEP_WORKER_POD_TEMPLATE") as caught:
        OperatorSettings.from_env(PATH_WITH_VOLUME | env)
    assert "the operator mounts its own volume at /var/cache/jax" in str(caught.value)

    resources = {"perTrial": {"cpu": "1", "memory": "1Gi"}, "workerPodTemplate": OVERLAY_MOUNT}
    sweep = sweep_model(sweep_manifest("s", "s3://evidence", resources=resources))
    assert problems(sweep, OperatorSettings.from_env(IMAGE)) == []
    found = problems(sweep, OperatorSettings.from_env(PATH_WITH_VOLUME))
    assert found == [
        "resources.workerPodTemplate.spec.containers.0.volumeMounts.0.mountPath: "
        "the operator mounts its own volume at /var/cache/jax: mount yours elsewhere"
    ], found
