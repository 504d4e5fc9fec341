"""Shared pytest set-up. Area-specific fixtures live in tests/<area>/conftest.py or tests/support/.

`make test` runs the suite as two pytest processes side by side, `--part heavy` and `--part light`.
The heavy part is every test that trains, runs Ray Tune or runs a sweep on the control plane: it runs
one test at a time, since two of them at once on a 2-core machine starve each other's deadlines. The
light part (the rest) runs beside it, in the CPU the heavy tests leave while they wait."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.k8s_fixtures"]

_TESTS = Path(__file__).parent
# Whole areas that train or run Ray Tune, and the fixtures that start Ray, KubeRay or the operator.
_HEAVY_AREAS = {"bench", "sweep", "trainer"}
_HEAVY_FIXTURES = {"kuberay", "start_kuberay", "start_operator", "local_ray", "image_envs"}
_HEAVY_MODULES = {"test_dev_cluster.py"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--part",
        choices=("all", "heavy", "light"),
        default="all",
        help="run only the tests that train or run Ray (heavy), only the others (light), or all",
    )


def is_heavy(item: pytest.Item) -> bool:
    path = Path(str(item.path)).relative_to(_TESTS)
    fixtures = set(getattr(item, "fixturenames", ()))
    return path.parts[0] in _HEAVY_AREAS or path.name in _HEAVY_MODULES or bool(fixtures & _HEAVY_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    part = config.getoption("part")
    if part == "all":
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (keep if is_heavy(item) == (part == "heavy") else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
