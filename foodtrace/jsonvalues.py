"""Values from the database as JSON values, one rule for every document we write."""

from __future__ import annotations

from decimal import Decimal


def json_number(value: Decimal | None) -> int | float | None:
    """Decimal -> JSON number without float noise (0.1 stays 0.1, 12 stays 12); None stays None."""
    if value is None:
        return None
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return int(normal)
    return float(normal)
