"""Delivery metrics per (route, target): counters, latency quantiles, success rate.

Counters per (route, target):

- ``routed``: deliveries the routing table asked for;
- ``delivered``: deliveries a target accepted (first try or after retries);
- ``retried``: retry attempts made (attempts after the first);
- ``failed``: attempts that failed (each one; a delivery may fail and then succeed);
- ``dead_lettered``: deliveries given up and written to the dead-letter store;
- ``duplicates``: deliveries skipped because the target had already seen the ``event_id``.

Latency is from the moment the bridge took the event off the bus to the target accepting it,
over the last ``window`` deliveries (default 4,096) per key; quantiles p50/p95/p99 in ms
(``ctas7_panel.stats.quantile``: numpy's "linear"; None before any delivery).
``success_rate = delivered / (delivered + dead_lettered)`` (None before any settled delivery).

Three views of the same numbers: ``BridgeMetrics.snapshot()`` (a dict, in-process),
``metrics_payload(snapshot)`` (the ``bridge_metrics`` event's payload, published every few
seconds) and ``prometheus_text(snapshot)`` (``GET /metrics`` on the gateway). All pure apart
from the accumulator itself.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctas7_panel.prometheus import MetricFamily, Sample, encode
from ctas7_panel.stats import quantile

COUNTERS = ("routed", "delivered", "retried", "failed", "dead_lettered", "duplicates")
DEFAULT_WINDOW = 4096
_PAYLOAD_KEYS = (
    *("routed", "delivered", "retried", "failed", "dead_lettered"),
    *("p50_ms", "p95_ms", "p99_ms", "success_rate"),
)


def _rate(delivered: int, dead: int) -> float | None:
    settled = delivered + dead
    return None if settled == 0 else delivered / settled


@dataclass
class _Cell:
    window: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    latencies: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.latencies = deque(maxlen=self.window)


class BridgeMetrics:
    """The accumulator. Not thread-safe: used from the bridge's event loop only."""

    def __init__(self, *, window: int = DEFAULT_WINDOW) -> None:
        self.window = window
        self._cells: dict[tuple[str, str], _Cell] = {}
        self.consumed = 0
        self.unrouted = 0
        self.transform_errors = 0
        self.replayed = 0

    def _cell(self, route: str, target: str) -> _Cell:
        cell = self._cells.get((route, target))
        if cell is None:
            cell = self._cells[(route, target)] = _Cell(self.window)
        return cell

    def count(self, what: str, route: str, target: str, n: int = 1) -> None:
        self._cell(route, target).counts[what] += n

    def delivered(self, route: str, target: str, latency_s: float) -> None:
        cell = self._cell(route, target)
        cell.counts["delivered"] += 1
        cell.latencies.append(latency_s)

    def delivered_n(self, route: str, target: str, n: int, latency_s: float) -> None:
        """``delivered`` for ``n`` deliveries of one batch, all with the same latency."""
        cell = self._cell(route, target)
        cell.counts["delivered"] += n
        cell.latencies.extend(itertools.repeat(latency_s, min(n, self.window)))

    def snapshot(self, **extra: Any) -> dict[str, Any]:
        """Per route/target and per target counters, quantiles (ms) and success rates."""
        routes = []
        per_target: dict[str, dict[str, Any]] = {}
        target_lat: dict[str, list[float]] = {}
        for (route, target), cell in sorted(self._cells.items()):
            lat = sorted(cell.latencies)
            routes.append(
                {"route": route, "target": target, **cell.counts, **_quantiles(lat)}
                | {"success_rate": _rate(cell.counts["delivered"], cell.counts["dead_lettered"])}
            )
            agg = per_target.setdefault(target, dict.fromkeys(COUNTERS, 0))
            for k in COUNTERS:
                agg[k] += cell.counts[k]
            target_lat.setdefault(target, []).extend(lat)
        for target, agg in per_target.items():
            agg.update(_quantiles(sorted(target_lat[target])))
            agg["success_rate"] = _rate(agg["delivered"], agg["dead_lettered"])
        delivered = sum(t["delivered"] for t in per_target.values())
        dead = sum(t["dead_lettered"] for t in per_target.values())
        return {
            "consumed": self.consumed,
            "unrouted": self.unrouted,
            "transform_errors": self.transform_errors,
            "replayed": self.replayed,
            "delivered": delivered,
            "dead_lettered": dead,
            "success_rate": _rate(delivered, dead),
            "targets": per_target,
            "routes": routes,
            **extra,
        }


def _quantiles(sorted_lat: list[float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        out[name] = round(quantile(sorted_lat, q) * 1000.0, 3) if sorted_lat else None
    return out


def metrics_payload(
    snapshot: Mapping[str, Any], *, worker: str, interval_s: float
) -> dict[str, Any]:
    """The payload of a ``bridge_metrics`` event (documented in docs/events.md)."""
    return {
        "worker": worker,
        "interval_s": interval_s,
        "consumed": snapshot["consumed"],
        "unrouted": snapshot["unrouted"],
        "delivered": snapshot["delivered"],
        "dead_lettered": snapshot["dead_lettered"],
        "success_rate": snapshot["success_rate"],
        "in_flight": snapshot.get("in_flight", 0),
        "targets": {
            name: {k: t[k] for k in _PAYLOAD_KEYS} for name, t in snapshot["targets"].items()
        },
    }


def prometheus_text(
    snapshot: Mapping[str, Any] | None,
    gauges: Iterable[tuple[str, str, dict[str, str], float]] = (),
) -> str:
    """Prometheus exposition text (``ctas7_panel.prometheus``) for a bridge snapshot plus extra
    samples.

    ``gauges`` are ``(name, type, labels, value)`` rows (e.g. the gateway's counters); rows of
    one name become one family, in the order first seen.
    """
    families: list[MetricFamily] = []
    if snapshot is not None:
        families += _snapshot_families(snapshot)
    extra: dict[str, tuple[str, list[Sample]]] = {}
    for name, kind, labels, value in gauges:
        extra.setdefault(name, (kind, []))[1].append(Sample(tuple(sorted(labels.items())), value))
    families += [
        MetricFamily(name, kind, tuple(samples)) for name, (kind, samples) in extra.items()
    ]
    return encode(families)


def _snapshot_families(snapshot: Mapping[str, Any]) -> list[MetricFamily]:
    routes = snapshot["routes"]

    def labels(r: Mapping[str, Any], *more: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        return (("route", r["route"]), ("target", r["target"]), *more)

    families = [
        MetricFamily(
            f"ctas7_bridge_{what}_total",
            "counter",
            tuple(Sample(labels(r), r[what]) for r in routes),
        )
        for what in COUNTERS
    ]
    families.append(
        MetricFamily(
            "ctas7_bridge_latency_seconds",
            "summary",
            tuple(
                Sample(labels(r, ("quantile", q)), None if r[key] is None else r[key] / 1000.0)
                for r in routes
                for q, key in (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))
            ),
        )
    )
    families.append(
        MetricFamily(
            "ctas7_bridge_success_ratio",
            "gauge",
            tuple(Sample(labels(r), r["success_rate"]) for r in routes),
        )
    )
    for key, kind in (
        ("consumed", "counter"),
        ("unrouted", "counter"),
        ("transform_errors", "counter"),
        ("in_flight", "gauge"),
    ):
        suffix = "_total" if kind == "counter" else ""
        families.append(
            MetricFamily(f"ctas7_bridge_{key}{suffix}", kind, (Sample((), snapshot.get(key, 0)),))
        )
    return families
