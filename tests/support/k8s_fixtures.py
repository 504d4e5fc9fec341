"""pytest plugin: a real Kubernetes control plane for the tests (registered in tests/conftest.py).

Fixtures:
  ``control_plane`` (session): a started :class:`~tests.support.controlplane.ControlPlane` with KubeRay's
      RayJob/RayCluster CRDs installed, and ours (manifests/crd/tunesweep.dev_tuningsweeps.yaml) if present;
  ``k8s_api`` (session): an admin ``kubernetes.client.ApiClient``;
  ``namespace`` (function): a fresh namespace, deleted afterwards;
  ``kubectl`` (function): ``kubectl(*args, check=True, namespace=None, kubeconfig=None, input=None)``
      runs the built kubectl as admin and returns a ``CompletedProcess[str]``;
  ``kubelet`` (session): the kubelet stand-in (:mod:`tests.support.kubelet`) serving :data:`NODE_POOLS`,
      its Pods in network namespaces of their own;
  ``kuberay`` (function): KubeRay's own operator serving the test's namespace (``start_kuberay(ns...)``
      for others); with ``kubelet``, a RayJob becomes a real multi-node Ray cluster and a submitter Job
      that really submits.

The binaries are built (once per machine, ~6 min cold) by hack/controlplane/ensure-assets.sh when the
collected tests need them, in ``pytest_collection_finish`` so that the build is not subject to per-test
timeouts. Nothing is skipped when they are missing: a failed build fails the tests that need it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import spec

from tests.support.controlplane import REPO_ROOT, ControlPlane, ControlPlaneError, ensure_assets
from tests.support.kubelet import KubeletStandIn, NodePool

TUNESWEEP_CRD = REPO_ROOT / "manifests" / "crd" / "tunesweep.dev_tuningsweeps.yaml"
_CP_FIXTURES = {"control_plane", "k8s_api", "namespace", "kubectl", "kubelet", "kuberay", "start_kuberay"}

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
TPU_TAINT = {"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}
NODE_POOLS = (
    NodePool("cpu-pool", {"cpu": "16", "memory": "64Gi", "ephemeral-storage": "100Gi"}),
    NodePool(
        "gpu-pool",
        {"cpu": "32", "memory": "128Gi", "ephemeral-storage": "100Gi", "nvidia.com/gpu": "4"},
        {"nvidia.com/gpu.present": "true"},
        [GPU_TAINT],
    ),
    NodePool(
        "tpu-v6e-2x2-pool",
        {"cpu": "32", "memory": "128Gi", "ephemeral-storage": "100Gi", "google.com/tpu": "4"},
        {"cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice", "cloud.google.com/gke-tpu-topology": "2x2"},
        [TPU_TAINT],
    ),
)
"""The Nodes the kubelet stand-in serves: a CPU pool, a GPU pool and a single-host TPU v6e 2x2 pool, as
GKE labels and taints them. Accelerators are numbers only: the scheduler and Ray count them."""

_state: dict[str, Any] = {"assets": None, "assets_error": None, "control_plane": None}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build/locate the assets before any test runs, if a collected test needs the control plane."""
    if session.config.option.collectonly:
        return
    if not any(_CP_FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("control plane: ensuring binaries (hack/controlplane/ensure-assets.sh) ...")
    try:
        _state["assets"] = ensure_assets()
    except ControlPlaneError as exc:
        _state["assets_error"] = str(exc)
    if reporter is not None:
        reporter.write_line(f"control plane: assets {_state['assets'] or 'FAILED'}")


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    if _state["assets_error"]:
        raise ControlPlaneError(_state["assets_error"])
    assets: Path = _state["assets"] or ensure_assets()
    cp = ControlPlane(assets)
    cp.start()
    _state["control_plane"] = cp
    try:
        crds = cp.kuberay_crds()
        if TUNESWEEP_CRD.exists():
            crds.append(TUNESWEEP_CRD)
        cp.install_crds(crds)
        yield cp
    except BaseException:
        cp.failed = True
        raise
    finally:
        if request.session.testsfailed:
            cp.failed = True
        _state["control_plane"] = None
        cp.stop()
        if cp.failed:
            sys.stderr.write(f"\ncontrol plane logs kept in {cp.workdir}\n")


@pytest.fixture(scope="session")
def k8s_api(control_plane: ControlPlane) -> Any:
    """Admin ``kubernetes.client.ApiClient`` (system:masters)."""
    return control_plane.api_client()


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted (not waited for) afterwards, with the finalizers
    of the operators the test ran dropped (see :func:`drop_operator_finalizers`)."""
    from kubernetes import client

    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") or "test"
    name = f"{base}-{secrets.token_hex(3)}"
    api = control_plane.api_client()
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    with contextlib.suppress(Exception):  # cleanup at best: a test's outcome is decided by now
        core.delete_namespace(name, propagation_policy="Background")
        drop_operator_finalizers(api, name)


def drop_operator_finalizers(api: Any, namespace: str) -> None:
    """Drop the finalizers left on `namespace`'s custom resources, as an admin does once their operators
    are gone. A test stops its operators (ours, KubeRay's) before its namespace is deleted, so nothing
    would remove them: the namespace would stay Terminating, and the namespace controller would list and
    delete every resource type in it again and again for the rest of the session (CPU the apiserver,
    etcd and the controller-manager then take from the tests after it)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    from tunesweep_operator import kube

    # the custom resources whose operators (ours, KubeRay's) put finalizers on them
    finalized = (
        (spec.GROUP, spec.VERSION, spec.PLURAL),
        (kube.RAY_GROUP, kube.RAY_VERSION, kube.RAYJOBS),
        (kube.RAY_GROUP, kube.RAY_VERSION, "rayclusters"),
    )
    custom = client.CustomObjectsApi(api)
    for group, version, plural in finalized:
        try:
            found = custom.list_namespaced_custom_object(group, version, namespace, plural)
        except ApiException as exc:
            if exc.status == 404:  # that resource is not installed
                continue
            raise
        for obj in found["items"]:
            if not obj["metadata"].get("finalizers"):
                continue
            with contextlib.suppress(ApiException):  # gone meanwhile
                custom.patch_namespaced_custom_object(
                    group,
                    version,
                    namespace,
                    plural,
                    obj["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                )


@pytest.fixture
def kubectl(control_plane: ControlPlane) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the built kubectl as admin: ``kubectl("get", "pods", namespace=ns, check=False)``."""
    return control_plane.kubectl


def trainer_image_env(image: str, tmp: Path) -> dict[str, str]:
    """Every image runs as the trainer-cpu image would: its Dockerfile ENV with /opt/venv standing for this
    repository's environment and /tmp for the container's own."""
    from tests.ship.dockerfile import Dockerfile, here

    declared = Dockerfile.load().env("trainer-cpu")
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"} | {
        k: here(v, Path(sys.prefix), tmp) for k, v in declared.items()
    }


@pytest.fixture(scope="session")
def kubelet(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeletStandIn]:
    """The kubelet stand-in (the one test double): runs the Pods bound to :data:`NODE_POOLS`."""
    workdir = Path(tempfile.mkdtemp(prefix="tswk", dir="/tmp"))  # short: Ray keeps Unix sockets below it
    stand_in = KubeletStandIn(control_plane.admin_kubeconfig, workdir, NODE_POOLS, trainer_image_env)
    stand_in.start()
    try:
        yield stand_in
    finally:
        stand_in.stop()
        if stand_in.errors:
            sys.stderr.write("kubelet stand-in errors:\n  " + "\n  ".join(stand_in.errors) + "\n")
        if not control_plane.failed:
            shutil.rmtree(workdir, ignore_errors=True)


StartKubeRay = Callable[..., KubeletStandIn]


@pytest.fixture
def start_kuberay(control_plane: ControlPlane, kubelet: KubeletStandIn) -> Iterator[StartKubeRay]:
    """``start_kuberay(ns, ...)``: KubeRay's own operator serving those namespaces (only: other tests'
    RayJobs stay as created) for this test; their Ray clusters run on the kubelet stand-in, returned."""
    started = []

    def start(*namespaces: str) -> KubeletStandIn:
        started.append(control_plane.start_kuberay_operator(namespaces, kubelet.network.with_cluster_dns))
        return kubelet

    yield start
    for proc in started:
        control_plane.stop_process(proc)


@pytest.fixture
def kuberay(start_kuberay: StartKubeRay, namespace: str) -> KubeletStandIn:
    """KubeRay's own operator serving this test's namespace; its Ray clusters run on the kubelet stand-in
    as a real multi-node Ray cluster."""
    return start_kuberay(namespace)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure in a test that uses the control plane, attach its state and log tails to the report."""
    report = yield
    cp: ControlPlane | None = _state["control_plane"]
    if report.failed and cp is not None and _CP_FIXTURES & set(getattr(item, "fixturenames", ())):
        cp.failed = True
        report.sections.append(("control plane", cp.describe(log_lines=30)))
    return report
