"""Kubernetes resource quantities (`4`, `1.5`, `500m`, `16Gi`, `1e3`): the project's one parser.

The operator sizes Pods and Ray start parameters with it, the trainer sizes trials, the tests' kubelet
stand-in reads container limits with it. It follows k8s.io/apimachinery's resource.Quantity: a signed
decimal number, then a binary suffix (Ki..Ei), a decimal one (n, u, m, k, M..E) or a decimal exponent.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_FORM = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))((?:[KMGTPE]i)|[numkMGTPE]?|[eE][+-]?\d+)$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a quantity, exactly: `parse_quantity("500m") == Decimal("0.5")`."""
    raw = str(text).strip()
    m = _FORM.match(raw)
    if not m:
        raise QuantityError(f"{raw!r} is not a Kubernetes quantity (e.g. 4, 1.5, 500m, 16Gi)")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:
        raise QuantityError(f"{raw!r} is not a Kubernetes quantity") from None
    suffix = m.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return number.scaleb(int(suffix[1:]))
    return number * _DECIMAL[suffix]


def cpu_cores(text: str | int | float) -> float:
    """A CPU quantity in cores: `"500m"` is 0.5."""
    return float(parse_quantity(text))
