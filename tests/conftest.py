"""Shared pytest set-up. Area-specific fixtures live in tests/<area>/conftest.py or tests/support/.

`make test` runs the suite on two xdist workers (`--dist loadgroup`). The tests that train, run Ray
or run a sweep on the control plane are one group, run one after another on one worker: on a 2-core
machine two of them at once starve each other's deadlines. Every other test runs beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.k8s_fixtures"]

_TESTS = Path(__file__).parent
# Whole areas that train or run Ray Tune, and the fixtures that start Ray on the control plane.
_HEAVY_AREAS = {"bench", "sweep", "trainer"}
_HEAVY_FIXTURES = {"kuberay", "start_kuberay", "start_operator", "local_ray", "image_envs"}
_HEAVY_MODULES = {"test_dev_cluster.py"}


def _heavy(item: pytest.Item) -> bool:
    path = Path(str(item.path)).relative_to(_TESTS)
    fixtures = set(getattr(item, "fixturenames", ()))
    return path.parts[0] in _HEAVY_AREAS or path.name in _HEAVY_MODULES or bool(fixtures & _HEAVY_FIXTURES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _heavy(item):
            item.add_marker(pytest.mark.xdist_group("heavy"))
