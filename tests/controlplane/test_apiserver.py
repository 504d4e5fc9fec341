"""The test control plane itself: real API server, CRDs, RBAC, tokens, garbage collection, CEL."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator.cluster import wait_until
from tests.support.controlplane import ENSURE_ASSETS, REPO_ROOT, ControlPlane
from tests.support.k8s_fixtures import TUNESWEEP_CRD

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def test_assets_are_cached_and_pinned(control_plane: ControlPlane) -> None:
    proc = subprocess.run(
        ["bash", str(ENSURE_ASSETS)], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    # warm: the script finds its cached directory complete and builds nothing (each build step logs
    # "building ..."); decided by what it did, not by how long it took
    assert "building" not in proc.stderr, f"a second ensure-assets.sh run rebuilt:\n{proc.stderr}"
    if not os.environ.get("TUNESWEEP_ASSETS"):
        assert Path(proc.stdout.splitlines()[-1]) == control_plane.assets
    versions = (control_plane.assets / "VERSIONS").read_text()
    assert "kubernetes=v1.35." in versions and "etcd=v3.6." in versions


def test_server_version_and_kubectl(kubectl: Kubectl) -> None:
    info = json.loads(kubectl("version", "-o", "json").stdout)
    assert info["clientVersion"]["gitVersion"].startswith("v1.35.")
    # The reported version decides which CEL features the server offers; >= 1.33 has all we use.
    server = info["serverVersion"]
    assert server["gitVersion"].startswith("v1.") and (int(server["major"]), int(server["minor"])) >= (1, 33)


def test_crds_are_established(control_plane: ControlPlane, kubectl: Kubectl) -> None:
    names = ["rayjobs.ray.io", "rayclusters.ray.io"]
    if TUNESWEEP_CRD.exists():
        names += [
            d["metadata"]["name"]
            for d in yaml.safe_load_all(TUNESWEEP_CRD.read_text())
            if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
        ]
    out = kubectl(
        "get",
        "crd",
        *names,
        "-o",
        r"jsonpath={range .items[*]}{.metadata.name}="
        r'{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}',
    ).stdout
    assert sorted(out.split()) == sorted(f"{n}=True" for n in names)


def make_rayjob(name: str, entrypoint: str, **spec: Any) -> dict[str, Any]:
    """A minimal ``ray.io/v1`` RayJob (a head group only); `spec` adds spec fields."""
    head = {
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}},
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name},
        "spec": {"entrypoint": entrypoint, "rayClusterSpec": {"headGroupSpec": head}, **spec},
    }


def test_rayjob_round_trip(kubectl: Kubectl, namespace: str) -> None:
    rayjob = make_rayjob("roundtrip", "python -c 'print(1)'", activeDeadlineSeconds=30)
    kubectl("apply", "--server-side", "-f", "-", namespace=namespace, input=json.dumps(rayjob))
    got = json.loads(kubectl("get", "rayjob", "roundtrip", "-o", "json", namespace=namespace).stdout)
    assert got["spec"]["entrypoint"] == "python -c 'print(1)'"
    assert got["spec"]["activeDeadlineSeconds"] == 30
    # Schema validation is real: a field of the wrong type is rejected.
    bad = make_rayjob("bad", "true", activeDeadlineSeconds="soon")
    proc = kubectl("create", "-f", "-", namespace=namespace, input=json.dumps(bad), check=False)
    assert proc.returncode != 0 and "activeDeadlineSeconds" in proc.stderr


def test_service_account_needs_rbac(control_plane: ControlPlane, kubectl: Kubectl, namespace: str) -> None:
    sa_kubeconfig = control_plane.kubeconfig_for_service_account(namespace, "reader")
    whoami = kubectl("auth", "whoami", "-o", "json", kubeconfig=sa_kubeconfig)
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:reader"
    )

    denied = kubectl("get", "rayjobs", kubeconfig=sa_kubeconfig, check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr and "rayjobs" in denied.stderr

    kubectl(
        "create",
        "role",
        "rayjob-reader",
        "--verb=get,list,watch",
        "--resource=rayjobs.ray.io",
        namespace=namespace,
    )
    kubectl(
        "create",
        "rolebinding",
        "rayjob-reader",
        "--role=rayjob-reader",
        f"--serviceaccount={namespace}:reader",
        namespace=namespace,
    )

    last = [denied]

    def allowed() -> bool:
        last[0] = kubectl("get", "rayjobs", kubeconfig=sa_kubeconfig, check=False)
        return last[0].returncode == 0

    wait_until(
        allowed, 60, lambda: f"the RBAC grant to take effect; `kubectl get rayjobs` says {last[0].stderr}"
    )
    # Still nothing beyond the grant.
    other = kubectl("get", "secrets", kubeconfig=sa_kubeconfig, check=False)
    assert other.returncode != 0 and "Forbidden" in other.stderr


def test_owner_reference_garbage_collection(k8s_api: Any, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(k8s_api)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    assert owner.metadata is not None and owner.metadata.uid
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="child", owner_references=[ref]))
    )
    core.delete_namespaced_config_map("owner", namespace)

    seen: list[Any] = [None]

    def child_gone() -> bool:
        try:
            seen[0] = core.read_namespaced_config_map("child", namespace).metadata
        except ApiException as exc:
            seen[0] = exc
            return exc.status == 404
        return False

    wait_until(
        child_gone,
        60,
        lambda: (
            f"the owned ConfigMap `child` to be garbage-collected (kube-controller-manager); read: {seen[0]}"
        ),
    )


def test_namespace_controller_and_default_service_account(k8s_api: Any, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(k8s_api)

    def has_default_sa() -> bool:
        try:
            core.read_namespaced_service_account("default", namespace)
        except ApiException:
            return False
        return True

    wait_until(has_default_sa, 60, f"the serviceaccount controller's default ServiceAccount in {namespace}")

    doomed = f"{namespace}-doomed"[:63]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=doomed)))
    core.create_namespaced_config_map(doomed, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    core.delete_namespace(doomed)

    seen: list[Any] = [None]

    def ns_gone() -> bool:
        try:
            seen[0] = core.read_namespace(doomed).status
        except ApiException as exc:
            seen[0] = exc
            return exc.status == 404
        return False

    wait_until(
        ns_gone, 60, lambda: f"namespace {doomed} to be deleted (namespace controller); last read: {seen[0]}"
    )


CEL_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: celprobes.probe.tunesweep.dev
spec:
  group: probe.tunesweep.dev
  scope: Namespaced
  names: {plural: celprobes, singular: celprobe, kind: CelProbe}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              min: {type: integer, minimum: 0, maximum: 1000000}
              max: {type: integer, minimum: 0, maximum: 1000000}
              mode: {type: string, maxLength: 16}
            x-kubernetes-validations:
            - rule: self.min <= self.max
              messageExpression: "'in mode ' + self.mode + ', min must not exceed max'"
            - rule: "!has(oldSelf.mode) || has(self.mode) && self.mode == oldSelf.mode"
              message: mode is immutable
              optionalOldSelf: false
            - rule: "!oldSelf.hasValue() || self.max >= oldSelf.value().max"
              optionalOldSelf: true
              message: max may only grow
"""


def test_cel_validation_features(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    crd = tmp_path / "celprobe.yaml"
    crd.write_text(CEL_CRD)
    control_plane.install_crds([crd])

    def probe(**spec: Any) -> str:
        return json.dumps(
            {
                "apiVersion": "probe.tunesweep.dev/v1",
                "kind": "CelProbe",
                "metadata": {"name": "p"},
                "spec": spec,
            }
        )

    bad = kubectl("create", "-f", "-", namespace=namespace, input=probe(min=5, max=1, mode="x"), check=False)
    assert bad.returncode != 0 and "in mode x, min must not exceed max" in bad.stderr
    kubectl("create", "-f", "-", namespace=namespace, input=probe(min=1, max=5, mode="a"))
    shrink = kubectl(
        "replace", "-f", "-", namespace=namespace, input=probe(min=1, max=4, mode="a"), check=False
    )
    assert shrink.returncode != 0 and "max may only grow" in shrink.stderr
    change = kubectl(
        "replace", "-f", "-", namespace=namespace, input=probe(min=1, max=6, mode="b"), check=False
    )
    assert change.returncode != 0 and "mode is immutable" in change.stderr
    kubectl("replace", "-f", "-", namespace=namespace, input=probe(min=1, max=6, mode="a"))


def test_a_second_control_plane_stops_without_leftovers(control_plane: ControlPlane) -> None:
    cp = ControlPlane(control_plane.assets, controller_manager=False)
    with cp:
        pids = [p.pid for p in cp.processes]
        assert cp.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
        assert cp.apiserver_port != control_plane.apiserver_port
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not cp.workdir.exists()
