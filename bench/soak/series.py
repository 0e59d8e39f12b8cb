"""Pure figures over the soak's samples: percentiles, least-squares slope, growth."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated q-th percentile (0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope dy/dx; None with fewer than two distinct x."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def bytes_per_million(size_before: int, size_after: int, events: int) -> float | None:
    """Database growth per million landed messages (None if nothing landed)."""
    if events <= 0:
        return None
    return (size_after - size_before) / events * 1e6
