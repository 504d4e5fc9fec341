"""Pod-template overlays: what the model refuses, the strategic merge, and what the operator owns."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError
from tunesweep_evidence.crd import structural
from tunesweep_evidence.pod_overlay import (
    HEAD_CONTAINER,
    WORKER_CONTAINER,
    PodTemplateOverlay,
    merge_pod_template,
    owned_violations,
)

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def base() -> dict[str, Any]:
    """A worker Pod template as the operator renders it."""
    return {
        "metadata": {"labels": {"tunesweep.dev/sweep": "s"}},
        "spec": {
            "containers": [
                {
                    "name": WORKER_CONTAINER,
                    "image": "trainer:1",
                    "resources": {"requests": {"cpu": "4"}, "limits": {"cpu": "4"}},
                    "env": [{"name": "JAX_PLATFORMS", "value": "cuda"}, {"name": "A", "value": "1"}],
                    "volumeMounts": [{"name": "evidence", "mountPath": "/evidence"}],
                }
            ],
            "volumes": [{"name": "evidence", "hostPath": {"path": "/srv"}}],
            "tolerations": [GPU_TOLERATION],
            "nodeSelector": {"gpu": "a100"},
        },
    }


def overlay(spec: dict[str, Any] | None = None, **metadata: Any) -> PodTemplateOverlay:
    return PodTemplateOverlay.model_validate({"metadata": metadata or None, "spec": spec})


def container(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": WORKER_CONTAINER, **fields}]}


# -- the model -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        (container(command=["sh"]), ("spec", "containers", 0, "command")),
        (container(args=["-c"]), ("spec", "containers", 0, "args")),
        (container(image="evil:1"), ("spec", "containers", 0, "image")),
        (container(ports=[{"containerPort": 80}]), ("spec", "containers", 0, "ports")),
        (container(lifecycle={}), ("spec", "containers", 0, "lifecycle")),
        ({"serviceAccountName": "admin"}, ("spec", "serviceAccountName")),
        ({"initContainers": []}, ("spec", "initContainers")),
    ],
)
def test_what_the_overlay_does_not_know_is_refused_at_its_path(
    spec: dict[str, Any], where: tuple[Any]
) -> None:
    with pytest.raises(ValidationError) as caught:
        overlay(spec)
    [error] = caught.value.errors()
    assert error["loc"] == where and error["msg"] == "Extra inputs are not permitted"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (container(env=[{"name": "A", "value": "1", "valueFrom": {}}]), "give value or valueFrom, not both"),
        (container(env=[{"name": "A"}, {"name": "A"}]), "two entries with name 'A'"),
        ({"volumes": [{"name": "scratch"}]}, "give exactly one volume source besides name"),
        ({"volumes": [{"name": "s", "emptyDir": {}, "hostPath": {}}]}, "give exactly one volume source"),
        (container(resources={"limits": {"ephemeral-storage": "lots"}}), "not a Kubernetes quantity"),
    ],
)
def test_malformed_entries_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        overlay(spec)


def test_the_overlay_schema_is_structural() -> None:
    """What the CRD generator turns it into: free-form objects keep unknown fields, keyed lists are maps."""
    schema = structural(PodTemplateOverlay.model_json_schema(by_alias=True), defaults=True)
    spec = schema["properties"]["spec"]["properties"]
    assert spec["affinity"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert spec["volumes"]["items"]["x-kubernetes-preserve-unknown-fields"] is True
    assert spec["containers"]["x-kubernetes-list-map-keys"] == ["name"]
    env = spec["containers"]["items"]["properties"]["env"]
    assert env["maxItems"] and env["items"]["x-kubernetes-validations"]


# -- the merge -------------------------------------------------------------------------------------------


def test_containers_merge_by_name_and_env_by_name() -> None:
    merged = merge_pod_template(
        base(),
        overlay(
            container(
                env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}, {"name": "B"}],
                resources={"limits": {"ephemeral-storage": 10}},
            )
        ),
    )
    [merged_container] = merged["spec"]["containers"]
    assert merged_container["image"] == "trainer:1"
    assert merged_container["env"] == [
        {"name": "JAX_PLATFORMS", "value": "cuda"},
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},  # replaced whole
        {"name": "B"},
    ]
    assert merged_container["resources"] == {
        "requests": {"cpu": "4"},
        "limits": {"cpu": "4", "ephemeral-storage": "10"},
    }


def test_volumes_and_mounts_are_added() -> None:
    merged = merge_pod_template(
        base(),
        overlay(
            {
                "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "10Gi"}}],
                **container(volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}]),
            }
        ),
    )
    assert [v["name"] for v in merged["spec"]["volumes"]] == ["evidence", "scratch"]
    assert merged["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "evidence", "mountPath": "/evidence"},
        {"name": "scratch", "mountPath": "/scratch"},
    ]


def test_tolerations_are_appended_not_replaced() -> None:
    spot = {"key": "spot", "operator": "Exists"}
    merged = merge_pod_template(base(), overlay({"tolerations": [spot, GPU_TOLERATION]}))
    assert merged["spec"]["tolerations"] == [GPU_TOLERATION, spot]


def test_maps_merge_and_scalars_and_other_lists_are_the_overlays() -> None:
    terms = [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]
    template = base()
    template["spec"]["affinity"] = {"nodeAffinity": {"x": [1, 2]}}
    merged = merge_pod_template(
        template,
        overlay(
            {
                "nodeSelector": {"pool": "batch"},
                "priorityClassName": "low",
                "affinity": {
                    "nodeAffinity": {"x": [3], "requiredDuringSchedulingIgnoredDuringExecution": terms}
                },
            },
            annotations={"sidecar.istio.io/inject": "false"},
            labels={"team": "ml"},
        ),
    )
    assert merged["metadata"] == {
        "labels": {"tunesweep.dev/sweep": "s", "team": "ml"},
        "annotations": {"sidecar.istio.io/inject": "false"},
    }
    assert merged["spec"]["nodeSelector"] == {"gpu": "a100", "pool": "batch"}
    assert merged["spec"]["priorityClassName"] == "low"
    assert merged["spec"]["affinity"]["nodeAffinity"] == {
        "x": [3],  # a list without a merge key is replaced
        "requiredDuringSchedulingIgnoredDuringExecution": terms,
    }


def test_inputs_are_not_changed() -> None:
    template, extra = base(), {"spec": container(env=[{"name": "A", "value": "2"}])}
    kept_template, kept_extra = copy.deepcopy(template), copy.deepcopy(extra)
    merged = merge_pod_template(template, extra)
    merged["spec"]["containers"][0]["env"].append({"name": "C"})
    merged["spec"]["volumes"][0]["hostPath"]["path"] = "/elsewhere"
    assert template == kept_template and extra == kept_extra


def test_no_overlay_is_a_copy() -> None:
    template = base()
    merged = merge_pod_template(template, None)
    assert merged == template and merged["spec"] is not template["spec"]
    assert merge_pod_template(template, PodTemplateOverlay()) == template


def test_overlays_apply_in_sequence() -> None:
    """The chart's overlay, then the sweep's: the later one wins, and merging them first is the same."""
    chart = {
        "metadata": {"annotations": {"a": "chart", "b": "chart"}},
        "spec": {
            "tolerations": [{"key": "spot", "operator": "Exists"}],
            "imagePullSecrets": [{"name": "registry"}],
            **container(env=[{"name": "A", "value": "chart"}, {"name": "C", "value": "chart"}]),
        },
    }
    sweep = {
        "metadata": {"annotations": {"b": "sweep"}},
        "spec": {
            "tolerations": [{"key": "spot", "operator": "Exists"}, {"key": "night"}],
            "imagePullSecrets": [{"name": "mine"}],
            **container(env=[{"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
        },
    }
    merged = merge_pod_template(
        merge_pod_template(base(), PodTemplateOverlay.model_validate(chart)),
        PodTemplateOverlay.model_validate(sweep),
    )
    assert merged == merge_pod_template(base(), merge_pod_template(chart, sweep))
    assert merged["metadata"]["annotations"] == {"a": "chart", "b": "sweep"}
    assert merged["spec"]["tolerations"] == [
        GPU_TOLERATION,
        {"key": "spot", "operator": "Exists"},
        {"key": "night"},
    ]
    assert merged["spec"]["imagePullSecrets"] == [{"name": "registry"}, {"name": "mine"}]
    assert merged["spec"]["containers"][0]["env"] == [
        {"name": "JAX_PLATFORMS", "value": "cuda"},
        {"name": "A", "value": "chart"},
        {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ]


# -- what the operator owns ------------------------------------------------------------------------------


def violations_of(
    extra: PodTemplateOverlay, name: str = WORKER_CONTAINER, **reserved: Any
) -> list[tuple[Any, str]]:
    return [(v.field, v.message) for v in owned_violations(extra, name, **reserved)]


def test_an_overlay_of_the_users_own_things_is_fine() -> None:
    extra = overlay(
        {
            "imagePullSecrets": [{"name": "registry"}],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            **container(
                env=[{"name": "HF_HOME", "value": "/scratch"}],
                volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}],
                resources={"limits": {"ephemeral-storage": "50Gi"}},
            ),
        },
        labels={"team": "ml"},
    )
    assert violations_of(extra, reserved_mounts=["/evidence"], reserved_env=["HF_TOKEN"]) == []


def test_only_the_ray_container_may_be_named() -> None:
    [(where, message)] = violations_of(overlay({"containers": [{"name": "sidecar"}]}), HEAD_CONTAINER)
    assert where == ("spec", "containers", 0, "name")
    assert "name its Ray container, ray-head" in message


@pytest.mark.parametrize("kind", ["requests", "limits"])
@pytest.mark.parametrize("resource", ["cpu", "memory", "nvidia.com/gpu", "google.com/tpu"])
def test_compute_resources_are_the_operators(kind: str, resource: str) -> None:
    [(where, message)] = violations_of(overlay(container(resources={kind: {resource: "1"}})))
    assert where == ("spec", "containers", 0, "resources", kind, resource)
    assert "set resources.perTrial instead" in message


@pytest.mark.parametrize(
    "name",
    ["TUNESWEEP_PLAN", "RAY_ADDRESS", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS", "JAX_PLATFORMS"],
)
def test_the_operators_env_names_are_refused(name: str) -> None:
    [(where, message)] = violations_of(overlay(container(env=[{"name": "OK"}, {"name": name, "value": "x"}])))
    assert where == ("spec", "containers", 0, "env", 1, "name")
    assert f"env {name} is set by the operator" in message


def test_reserved_env_names_are_refused() -> None:
    [(where, _)] = violations_of(overlay(container(env=[{"name": "HF_TOKEN"}])), reserved_env=["HF_TOKEN"])
    assert where == ("spec", "containers", 0, "env", 0, "name")


@pytest.mark.parametrize("name", ["evidence", "tunesweep-cache", "evidence-credentials"])
def test_the_operators_volumes_are_refused(name: str) -> None:
    extra = overlay(
        {
            "volumes": [{"name": name, "emptyDir": {}}],
            **container(volumeMounts=[{"name": name, "mountPath": "/data"}]),
        }
    )
    found = violations_of(extra, reserved_volumes=["evidence-credentials"])
    assert [where for where, _ in found] == [
        ("spec", "volumes", 0, "name"),
        ("spec", "containers", 0, "volumeMounts", 0, "name"),
    ]
    assert f"volume {name} is the operator's" in found[0][1]


@pytest.mark.parametrize(
    ("path", "refused"), [("/evidence", True), ("/evidence/sub/", True), ("/evidence2", False)]
)
def test_mounts_at_or_below_the_operators_are_refused(path: str, refused: bool) -> None:
    extra = overlay(container(volumeMounts=[{"name": "data", "mountPath": path}]))
    found = violations_of(extra, reserved_mounts=["/evidence/"])
    assert found == (
        [
            (
                ("spec", "containers", 0, "volumeMounts", 0, "mountPath"),
                "the operator mounts its own volume at /evidence/: mount yours elsewhere",
            )
        ]
        if refused
        else []
    )


def test_the_operators_labels_and_node_selectors_are_refused() -> None:
    extra = overlay(
        {"nodeSelector": {"cloud.google.com/gke-tpu-topology": "2x2", "pool": "a"}},
        labels={"tunesweep.dev/sweep": "other", "app.kubernetes.io/managed-by": "me", "team": "ml"},
    )
    found = violations_of(
        extra,
        reserved_labels=["app.kubernetes.io/managed-by"],
        reserved_node_selector=["cloud.google.com/gke-tpu-topology"],
    )
    assert [where for where, _ in found] == [
        ("metadata", "labels", "tunesweep.dev/sweep"),
        ("metadata", "labels", "app.kubernetes.io/managed-by"),
        ("spec", "nodeSelector", "cloud.google.com/gke-tpu-topology"),
    ]
