"""Fixtures of the operator's integration tests (the control plane ones come from tests/support)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.operator.cluster import Cluster, OperatorProcess, bind_operator_rules
from tests.support.controlplane import ControlPlane

StartOperator = Callable[..., OperatorProcess]


@pytest.fixture
def operator_kubeconfig(control_plane: ControlPlane, namespace: str) -> Path:
    return bind_operator_rules(control_plane, namespace)


@pytest.fixture
def start_operator(
    namespace: str, operator_kubeconfig: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StartOperator]:
    """Start `tunesweep operator --namespace <ns>` (as the operator's service account); wait until live."""
    started: list[OperatorProcess] = []

    def start(**env: str) -> OperatorProcess:
        log = tmp_path / f"operator-{len(started)}.log"
        process = OperatorProcess(namespace, operator_kubeconfig, log, env)
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for process in started:
            sys.stderr.write(f"\n--- operator log {process.log} (tail) ---\n{process.tail(80)}\n")


@pytest.fixture
def cluster(control_plane: ControlPlane, namespace: str) -> Cluster:
    return Cluster(control_plane, namespace)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
