"""The Kubernetes quantity parser (k8s.io/apimachinery resource.Quantity's forms)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tunesweep_evidence.quantity import QuantityError, cpu_cores, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4", Decimal(4)),
        ("1.5", Decimal("1.5")),
        ("500m", Decimal("0.5")),
        ("16Gi", Decimal(16 * 2**30)),
        ("2k", Decimal(2000)),
        ("1e3", Decimal(1000)),
        ("100n", Decimal("1e-7")),
        (".5", Decimal("0.5")),
        (8, Decimal(8)),
    ],
)
def test_quantities(text: str | int, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "four", "1.5.2", "4 cores", "16GB", "1Ki5", "m"])
def test_what_is_not_a_quantity_is_refused(text: str) -> None:
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def test_cpu_cores() -> None:
    assert cpu_cores("2500m") == 2.5
