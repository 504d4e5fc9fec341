"""Shared pytest set-up. Area-specific fixtures live in tests/<area>/conftest.py or tests/support/.

`make test` runs the suite as three pytest parts (`--part`), two at a time: the cluster part, and beside
it the local part and then the light part. It is bound by CPU on a 2-core machine, and one heavy test at
a time leaves about a core idle while it waits; three parts at once left too little for Ray's start:
- `cluster`: the tests that run sweeps on the control plane with KubeRay, the operator or an image's
  environment; one at a time, since two of them at once starve each other's deadlines;
- `local`: the tests that train or run Ray Tune on this machine (tests/bench, tests/sweep,
  tests/trainer); one at a time, beside the cluster tests;
- `light`: everything else (minutes in all).
`python -m pytest` alone (`--part all`) runs everything in one process."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.k8s_fixtures"]

_TESTS = Path(__file__).parent
# Fixtures that start KubeRay, the operator or an image's environment: a cluster test.
_CLUSTER_FIXTURES = {"kuberay", "start_kuberay", "start_operator", "image_envs"}
_CLUSTER_MODULES = {"test_dev_cluster.py"}
# Areas that train or run Ray Tune on this machine, and the fixture of a local Ray.
_LOCAL_AREAS = {"bench", "sweep", "trainer"}
_LOCAL_FIXTURES = {"local_ray"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--part",
        choices=("all", "cluster", "local", "light"),
        default="all",
        help="run only that part of the suite (tests/conftest.py says which test is in which)",
    )


def part_of(item: pytest.Item) -> str:
    path = Path(str(item.path)).relative_to(_TESTS)
    fixtures = set(getattr(item, "fixturenames", ()))
    if path.name in _CLUSTER_MODULES or fixtures & _CLUSTER_FIXTURES:
        return "cluster"
    if path.parts[0] in _LOCAL_AREAS or fixtures & _LOCAL_FIXTURES:
        return "local"
    return "light"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    part = config.getoption("part")
    if part == "all":
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (keep if part_of(item) == part else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
