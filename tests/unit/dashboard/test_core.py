"""The dashboard's pure core: ring, records, tallies, digest."""

from __future__ import annotations

import pytest

from ctas7_panel import events as ev
from ctas7_panel.dashboard.digest import Digest
from ctas7_panel.dashboard.records import Record, looks_raw, summarize
from ctas7_panel.dashboard.ring import SeqRing
from ctas7_panel.dashboard.tallies import (
    BridgeHealth,
    LatencyTracker,
    SchemaInfo,
    StatusTracker,
    fold_bridge,
    fold_schema,
    tables_from,
)
from ctas7_panel.events import Event


def test_ring_readers_follow_their_own_cursor_and_memory_is_bounded() -> None:
    ring: SeqRing[int] = SeqRing(5)
    ring.extend(range(3))
    a = ring.since(0)
    assert a.items == [0, 1, 2] and a.cursor == 3 and a.missed == 0
    ring.extend(range(3, 10))
    assert len(ring) == 5
    b = ring.since(a.cursor)
    assert b.items == [5, 6, 7, 8, 9] and b.missed == 2  # 3 and 4 fell out
    assert ring.since(b.cursor).items == []
    assert ring.since(0, limit=2).items == [8, 9]
    assert ring.since(0, limit=2).missed == 8
    assert ring.since(99).items == [5, 6, 7, 8, 9]  # a cursor from another ring starts over
    assert ring.latest(2) == [9, 8]
    assert ring.latest(10, lambda x: x % 2 == 0) == [8, 6]


def test_summaries_never_raise_on_odd_payloads() -> None:
    e = ev.task_executed(task_id="t1", name="index", status="success", duration_ms=12.4)
    assert summarize(e) == "index success in 12 ms"
    raw = ev.schema_updated(new_hash="h2", old_hash="h1", schema_path="s.ts", table_count=7)
    assert summarize(raw) == "h1 -> h2 (7 tables)"
    odd = raw.with_payload({"message": "Database schema updated"})  # the dashboard transform
    assert summarize(odd) == "Database schema updated"
    assert summarize(Event.create("custom", {"b": 1, "a": [1]}, source_node="x")) == "{a, b}"
    assert summarize(Event.create("custom", {}, source_node="x")) == "{}"


def test_looks_raw_tells_a_payload_from_a_targets_transform() -> None:
    raw = ev.schema_updated(new_hash="h2", old_hash="h1", schema_path="s.ts", table_count=7)
    assert looks_raw(raw)
    assert not looks_raw(raw.with_payload({"ui_action": "display", "message": "m"}))
    assert looks_raw(Event.create("bridge_metrics", {"x": 1}, source_node="b"))


def test_schema_fold_takes_hash_tables_and_diff_from_raw_and_notification_from_target() -> None:
    e = ev.schema_updated(
        new_hash="b" * 64,
        old_hash="a" * 64,
        schema_path="s.ts",
        table_count=2,
        tables=[{"name": "nodes", "columns": [{"name": "id"}, {"name": "x"}]}, {"name": "t"}],
        diff={"added_columns": [{"name": "nodes.x"}]},
    )
    info = fold_schema(SchemaInfo(), e, raw=True)
    assert info.hash == "b" * 64 and info.table_count == 2 and info.status == "updated"
    assert info.tables == (("nodes", 2), ("t", 0))
    assert info.diff_text == "added_columns: nodes.x"
    assert info.updated_at == e.timestamp
    note = e.with_payload({"ui_action": "x", "message": "updated!", "notification_type": "success"})
    after = fold_schema(info, note, raw=False)
    assert after.hash == info.hash and after.notification == "updated!"
    err = ev.schema_error(error="connection refused", stage="introspect")
    assert fold_schema(after, err, raw=True).status == "error"


def test_tables_from_accepts_mapping_and_list_shapes() -> None:
    assert tables_from({"tables": {"a": {"columns": {"x": {}, "y": {}}}}}) == (("a", 2),)
    assert tables_from({"tables": [{"schema": "audit", "name": "log", "column_count": 3}]}) == (
        ("audit.log", 3),
    )
    assert tables_from({"nothing": 1}) is None
    assert tables_from("not a mapping") is None


def test_bridge_health_sums_the_latest_metrics_of_each_worker() -> None:
    def metrics(worker: str, delivered: int, dead: int) -> Event:
        payload = {"worker": worker, "delivered": delivered, "dead_lettered": dead, "targets": {}}
        return Event.create("bridge_metrics", payload, source_node=f"bridge:{worker}")

    h = fold_bridge(BridgeHealth(), metrics("w1", 90, 10), 1.0)
    h = fold_bridge(h, metrics("w2", 100, 0), 2.0)
    h = fold_bridge(h, metrics("w1", 190, 10), 3.0)  # w1's newer counters replace its older ones
    assert (h.delivered, h.dead_lettered, h.source) == (290, 10, "bridge_metrics")
    assert h.success_rate == pytest.approx(290 / 300)


def test_status_tracker_keeps_since_until_the_state_flips() -> None:
    st = StatusTracker()
    assert st.update("bus", True, 10.0)
    assert not st.update("bus", True, 12.0)
    assert st.components["bus"].since == 10.0
    assert st.update("bus", False, 15.0, "refused")
    assert st.components["bus"].since == 15.0 and st.components["bus"].detail == "refused"


def test_latency_is_per_route_and_ignores_stale_samples() -> None:
    lt = LatencyTracker(stale_s=60)
    e = Event.create("x", {}, source_node="s", timestamp=100.0)
    for dt in (0.010, 0.020, 0.030, 0.040, 0.500):
        lt.observe("legion", e, 100.0 + dt)
    lt.observe("dashboard", e, 100.0 + 600)  # a replay: not latency
    point = lt.close(101.0)
    p50, p99, n = point.routes["legion"]
    # ctas7_panel.stats (linear): p99 at h = 4 * 0.99 = 3.96, 40 + 0.96 * (500 - 40)
    assert (p50, p99, n) == (pytest.approx(30.0), pytest.approx(481.6), 5)
    assert "dashboard" not in point.routes
    assert lt.close(102.0).routes == {}


def test_digest_one_record_per_event_id_and_aggregates_folded_once() -> None:
    d = Digest(max_events=100)
    raw = ev.playwright_test_completed(nodeid="t::a", outcome="failed", duration_ms=5.0)
    shown = raw.with_payload({"ui_action": "show_test_result", "message": "failed"})
    d.observe("target.dashboard", shown, 1.0)
    d.observe("events", raw, 1.1)
    d.observe("target.neural_mux", raw.with_payload({"topic": "ctas7.test", "data": {}}), 1.2)
    d.observe("events", raw, 1.3)  # a redelivery
    assert len(d.events) == 1
    record = d.record(raw.event_id)
    assert isinstance(record, Record)
    assert record.raw and record.event.payload == raw.payload
    assert record.targets == ["dashboard", "neural_mux"]
    assert set(record.detail()["delivered"]) == {"dashboard", "neural_mux"}
    view = d.tests_view()
    assert (view.passed, view.failed) == (0, 1)
    assert view.failures[0].nodeid == "t::a"
    assert [t.topic for t in d.mux_view()] == ["ctas7.test"]


def test_digest_memory_is_bounded_however_many_events() -> None:
    d = Digest(max_events=50, max_points=10)
    for i in range(2000):
        e = ev.task_executed(task_id=str(i), name="n", status="success", duration_ms=1.0)
        d.observe("events", e, float(i))
        d.observe("target.legion", e, float(i))
        if i % 10 == 0:
            d.tick(float(i))
    assert len(d.events) == 50
    assert len(d._records) == 50
    assert len(d._folded) <= 200
    assert len(d.latency_points) == 10 and len(d.kpi_points) == 10
    assert d.kpis(2000.0)["task_success_pct"] == 100.0
