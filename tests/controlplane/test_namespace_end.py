"""A test's namespace ends even though the operators whose finalizers are on its objects have stopped
(tests/support/k8s_fixtures.py: `drop_operator_finalizers`): a namespace left Terminating keeps the
namespace controller listing and deleting in it for the rest of the session."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from tunesweep_evidence import spec
from tunesweep_operator import kube
from tunesweep_operator.kopf_settings import FINALIZER

from tests.controlplane.test_apiserver import make_rayjob
from tests.operator.cluster import wait_until
from tests.operator.sweeps import sweep_manifest
from tests.support.k8s_fixtures import drop_operator_finalizers


def test_a_namespace_whose_operators_stopped_ends_once_their_finalizers_are_dropped(
    k8s_api: Any, namespace: str
) -> None:
    core, custom = client.CoreV1Api(k8s_api), client.CustomObjectsApi(k8s_api)
    doomed = f"{namespace}-ended"[:63]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=doomed)))
    # what KubeRay's operator and ours leave on their objects, with neither running to remove it
    rayjob = make_rayjob("left", "true")
    rayjob["metadata"]["finalizers"] = ["ray.io/rayjob-finalizer"]
    custom.create_namespaced_custom_object(kube.RAY_GROUP, kube.RAY_VERSION, doomed, kube.RAYJOBS, rayjob)
    sweep = sweep_manifest("left", "file:///tmp/evidence")
    sweep["metadata"]["finalizers"] = [FINALIZER]
    custom.create_namespaced_custom_object(spec.GROUP, spec.VERSION, doomed, spec.PLURAL, sweep)
    core.delete_namespace(doomed)

    def stuck_on(*finalizers: str) -> bool:
        for condition in core.read_namespace(doomed).status.conditions or []:
            if condition.type == "NamespaceFinalizersRemaining" and condition.status == "True":
                return all(f in (condition.message or "") for f in finalizers)
        return False

    # the premise: without their operators, nothing removes the finalizers
    wait_until(
        lambda: stuck_on("ray.io/rayjob-finalizer", FINALIZER),
        60,
        f"namespace {doomed} held by both finalizers",
    )
    drop_operator_finalizers(k8s_api, doomed)

    def gone() -> bool:
        try:
            core.read_namespace(doomed)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, 60, f"namespace {doomed} deleted once the finalizers were dropped")
