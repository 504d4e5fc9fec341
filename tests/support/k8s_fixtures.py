"""pytest plugin: a real Kubernetes control plane for the tests (registered in tests/conftest.py).

Fixtures:
  ``control_plane`` (session): a started :class:`~tests.support.controlplane.ControlPlane` with KubeRay's
      RayJob/RayCluster CRDs installed, and ours (manifests/crd/tunesweep.dev_tuningsweeps.yaml) if present;
  ``k8s_api`` (session): an admin ``kubernetes.client.ApiClient``;
  ``namespace`` (function): a fresh namespace, deleted afterwards;
  ``kubectl`` (function): ``kubectl(*args, check=True, namespace=None, kubeconfig=None, input=None)``
      runs the built kubectl as admin and returns a ``CompletedProcess[str]``;
  ``kuberay_standin`` (function): a started :class:`~tests.support.kuberay_standin.KubeRayStandIn`.

The binaries are built (once per machine, ~6 min cold) by hack/controlplane/ensure-assets.sh when the
collected tests need them, in ``pytest_collection_finish`` so that the build is not subject to per-test
timeouts. Nothing is skipped when they are missing: a failed build fails the tests that need it.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import REPO_ROOT, ControlPlane, ControlPlaneError, ensure_assets
from tests.support.kuberay_standin import KubeRayStandIn

TUNESWEEP_CRD = REPO_ROOT / "manifests" / "crd" / "tunesweep.dev_tuningsweeps.yaml"
_CP_FIXTURES = {"control_plane", "k8s_api", "namespace", "kubectl", "kuberay_standin"}

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
    """A fresh namespace named after the test; deleted (not waited for) afterwards."""
    from kubernetes import client

    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") or "test"
    name = f"{base}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(control_plane.api_client())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    with contextlib.suppress(Exception):
        core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def kubectl(control_plane: ControlPlane) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the built kubectl as admin: ``kubectl("get", "pods", namespace=ns, check=False)``."""
    return control_plane.kubectl


@pytest.fixture
def kuberay_standin(control_plane: ControlPlane, tmp_path: Path) -> Iterator[KubeRayStandIn]:
    """The KubeRay stand-in (NOT KubeRay), watching all namespaces; job logs under ``tmp_path/kuberay``."""
    standin = KubeRayStandIn(control_plane.admin_kubeconfig, tmp_path / "kuberay")
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()
        if standin.errors:
            sys.stderr.write("KubeRay stand-in errors:\n  " + "\n  ".join(standin.errors) + "\n")


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
