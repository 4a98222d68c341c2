"""Statistics shared by every figure the project shows: one quantile definition. Pure.

``quantile(sorted_values, q)`` is linear interpolation between the closest ranks (Hyndman & Fan
type 7): with ``h = (n - 1) q`` on the ``n`` sorted values ``x[0..n-1]``,

    quantile = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])

the definition ``numpy.percentile`` / ``numpy.quantile`` call ``"linear"`` (their default) and
``statistics.quantiles(method="inclusive")`` uses. The bridge's p50/p95/p99, the Neural Mux
KPIs and the dashboard's latency chart all use it, so a "p99" means one thing everywhere.

Worked example: ``[10, 20, 30, 40]``, ``q = 0.9``: ``h = 3 * 0.9 = 2.7``, so
``30 + 0.7 * (40 - 30) = 37``. An empty sequence has no quantile: ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values; ``nan`` when there are none."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q!r} must be between 0 and 1")
    if not sorted_values:
        return math.nan
    h = (len(sorted_values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    low = float(sorted_values[lo])
    return low + (h - lo) * (float(sorted_values[hi]) - low)


def quantiles(values: Iterable[float], qs: Sequence[float]) -> dict[float, float]:
    """``{q: quantile}`` for each ``q`` in ``qs`` over ``values`` (any order)."""
    ordered = sorted(values)
    return {q: quantile(ordered, q) for q in qs}
