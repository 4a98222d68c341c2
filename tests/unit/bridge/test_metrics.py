"""Metrics accumulator, quantiles, the bridge_metrics payload and Prometheus text (pure)."""

from __future__ import annotations

import math
import re

from ctas7_panel.bridge.metrics import BridgeMetrics, metrics_payload, prometheus_text


def filled() -> BridgeMetrics:
    m = BridgeMetrics(window=100)
    for i in range(200):
        m.count("routed", "schema_updated", "legion")
        m.delivered("schema_updated", "legion", (i % 100 + 1) / 1000)
    m.count("routed", "schema_updated", "legion")
    m.count("failed", "schema_updated", "legion", 3)
    m.count("retried", "schema_updated", "legion", 2)
    m.count("dead_lettered", "schema_updated", "legion")
    m.count("routed", "unrouted", "dashboard")
    m.consumed, m.unrouted = 201, 1
    return m


def test_snapshot_counts_quantiles_and_success_rate() -> None:
    snap = filled().snapshot(in_flight=0)
    leg = snap["targets"]["legion"]
    assert (leg["routed"], leg["delivered"], leg["failed"], leg["dead_lettered"]) == (
        201,
        200,
        3,
        1,
    )
    # latencies 1..100 ms, ctas7_panel.stats (linear): h = 99 q, so 50.5 and 99.01
    assert leg["p50_ms"] == 50.5 and leg["p99_ms"] == 99.01
    assert BridgeMetrics().snapshot()["routes"] == []
    m = BridgeMetrics()
    m.count("routed", "r", "t")
    assert m.snapshot()["targets"]["t"]["p99_ms"] is None  # no delivery yet
    assert math.isclose(leg["success_rate"], 200 / 201)
    assert snap["targets"]["dashboard"]["success_rate"] is None
    assert snap["unrouted"] == 1
    routes = {(r["route"], r["target"]) for r in snap["routes"]}
    assert routes == {("schema_updated", "legion"), ("unrouted", "dashboard")}


def test_metrics_payload_is_compact() -> None:
    p = metrics_payload(filled().snapshot(in_flight=2), worker="w:1", interval_s=5.0)
    assert p["worker"] == "w:1" and p["in_flight"] == 2
    assert set(p["targets"]["legion"]) == {
        "routed",
        "delivered",
        "retried",
        "failed",
        "dead_lettered",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "success_rate",
    }


LINE = re.compile(r'^[a-z0-9_]+(\{([a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN)$')


def test_prometheus_text_is_well_formed() -> None:
    text = prometheus_text(
        filled().snapshot(in_flight=0),
        [("ctas7_gateway_connections", "gauge", {"endpoint": 'a"b'}, 2)],
    )
    for line in text.splitlines():
        assert line.startswith("# TYPE ") or LINE.match(line), line
    assert 'ctas7_bridge_delivered_total{route="schema_updated",target="legion"} 200' in text
    assert 'quantile="0.99"} 0.09901' in text
    assert 'ctas7_gateway_connections{endpoint="a\\"b"} 2' in text
    names = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE")]
    assert len(names) == len(set(names))
