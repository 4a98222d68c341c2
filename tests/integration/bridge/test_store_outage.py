"""The store as a sink: acknowledged only once durable, outages waited out, bad events isolated.

Real SQLite and PostgreSQL stores; an outage is a lock held by another connection (SQLite
``BEGIN EXCLUSIVE``, PostgreSQL ``LOCK TABLE``), so writes really fail.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from ctas7_panel import events as ev
from ctas7_panel.bridge.bridge import TelemetryBridge
from ctas7_panel.bridge.delivery import RetryPolicy
from ctas7_panel.bridge.targets import BusTarget
from ctas7_panel.dashboard.hub import Hub
from ctas7_panel.dashboard.probes import store_probe
from ctas7_panel.events import Event
from ctas7_panel.settings import Settings
from ctas7_panel.store import EventStore, PostgresStore, SqliteStore, open_store
from ctas7_panel.store_writer import STORE_TARGET, StoreWriter
from ctas7_panel.streams.bus import MemoryBus
from ctas7_panel.streams.gateway import DEFAULT_PORTS, Gateway, GatewayConfig

from .conftest import StoreOutage, wait_until

FAST = RetryPolicy(base=0.05, max_delay=0.2)
NAMES = ("legion", "dashboard", "neural_mux")


def quick_store(url: str) -> EventStore:
    """A store whose writes give up waiting for a lock after 0.3 s (the outage is seen fast)."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///") :], lock_timeout=0.3)
    return PostgresStore(url, lock_timeout=0.3)


def qa5(n: int, tag: str = "x") -> list[Event]:
    return [ev.qa5_validation(status="passed", tag=tag, i=i) for i in range(n)]


async def test_an_outage_holds_writes_with_back_pressure_two_log_lines_and_no_loss(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ctas7_panel.store_writer")
    store = quick_store(store_url)
    writer = StoreWriter(store, max_pending=500, retry=FAST, check_timeout=0.2)
    await writer.start()
    events = qa5(700)
    try:
        with StoreOutage(store_url):
            held = [await writer.write(events[k : k + 100]) for k in range(0, 500, 100)]
            blocked = asyncio.create_task(writer.write(events[500:]))  # over max_pending
            await wait_until(lambda: not writer.health.up, timeout=10)
            await wait_until(lambda: writer.health.errors_total >= 2, timeout=10)  # retried
            assert not any(f.done() for f in held) and not blocked.done()
            assert writer.health.pending == 500
            assert "lock" in writer.health.last_error
        last = await asyncio.wait_for(blocked, 10)
        await asyncio.wait_for(asyncio.gather(*held, last), 10)
        assert writer.health.up and store.count() == 700 and writer.written == 700
    finally:
        await writer.close()
        store.close()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("writes are failing" in line for line in lines) == 1, lines
    assert sum("succeed again" in line for line in lines) == 1, lines


async def test_a_full_disk_is_an_outage_not_a_reason_to_dead_letter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: with the disk full, 2,000 events were acked with 0 log lines and no metric.
    SQLite's real SQLITE_FULL path, through ``max_page_count`` on the store's connection."""
    caplog.set_level(logging.WARNING, logger="ctas7_panel.store_writer")
    store = SqliteStore(tmp_path / "events.db", lock_timeout=0.3)
    writer = StoreWriter(store, retry=FAST, check_timeout=0.2)
    await writer.start()
    conn = store._conn
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
        done = await writer.write(qa5(2000))
        await wait_until(lambda: not writer.health.up, timeout=10)
        await wait_until(lambda: writer.health.errors_total >= 2, timeout=10)  # retried
        assert not done.done() and "full" in writer.health.last_error
        conn.execute("PRAGMA max_page_count = 1073741823")  # room again
        await asyncio.wait_for(done, 10)
        assert store.count() == 2000 and store.dead_letters() == []
    finally:
        await writer.close()
        store.close()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("writes are failing" in line for line in lines) == 1, lines
    assert sum("succeed again" in line for line in lines) == 1, lines


async def test_events_the_store_refuses_are_dead_lettered_alone(store_url: str) -> None:
    """SQLite: a payload orjson cannot write (only via a direct producer); PostgreSQL: that and
    a NUL in source_node, which PostgreSQL text refuses (found by halving the batch)."""
    store = quick_store(store_url)
    writer = StoreWriter(store, retry=FAST, check_timeout=0.2)
    await writer.start()
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    good = qa5(100)
    bad = [Event("evt_deep", "deep", 1.0, "t", {"v": deep})]
    if isinstance(store, PostgresStore):
        bad.append(Event("evt_nul", "nul", 1.0, "a\x00b", {}))
    batch = good[:40] + bad + good[40:]
    try:
        await asyncio.wait_for(await writer.write(batch), 20)
        assert store.count() == 100
        assert writer.health.up and writer.health.dead_lettered == len(bad)
        letters = store.dead_letters(target=STORE_TARGET)
        assert sorted(d.event.event_id for d in letters) == sorted(e.event_id for e in bad)
        assert all("history cannot hold" in d.reason for d in letters)
        by_id = {d.event.event_id: d for d in letters}
        assert "Recursion limit" in by_id["evt_deep"].reason
        assert "unwritable_payload" in by_id["evt_deep"].event.payload  # a stand-in, shown
        if "evt_nul" in by_id:
            assert by_id["evt_nul"].event.source_node == "a\x00b"  # the json column keeps it
    finally:
        await writer.close()
        store.close()


async def test_close_during_an_outage_cancels_what_is_unwritten(store_url: str) -> None:
    store = quick_store(store_url)
    writer = StoreWriter(store, retry=FAST, check_timeout=0.2)
    await writer.start()
    try:
        with StoreOutage(store_url):
            done = await writer.write(qa5(10))
            await wait_until(lambda: not writer.health.up, timeout=10)
            await writer.close(timeout=0.5)
        assert done.cancelled()  # never failed: the caller leaves its messages unacked
        assert store.count() == 0
    finally:
        store.close()


async def test_a_message_is_acked_only_after_its_event_is_in_the_history(store_url: str) -> None:
    """Before: acked and delivered with the table locked, then lost at a crash."""
    store = quick_store(store_url)
    bus = MemoryBus()
    targets = {n: BusTarget(n, bus) for n in NAMES}
    sink = await bus.subscribe("sink", topic="target.dashboard")
    writer = StoreWriter(store, retry=FAST, check_timeout=0.2)
    bridge = TelemetryBridge(
        bus, store, targets=targets, store_writer=writer, metrics_interval=None
    )
    sent = qa5(300)
    try:
        await writer.start()
        await bridge.start()
        with StoreOutage(store_url):
            for e in sent:
                await bus.publish(e)
            delivered: list[str] = []
            async with asyncio.timeout(10):
                while len(delivered) < 300:
                    batch = await sink.get(500, timeout=0.5)
                    delivered += [m.event.event_id for m in batch]
                    await sink.ack(*batch)
            await wait_until(lambda: not bridge.store_health.up, timeout=10)
            await wait_until(lambda: writer.health.errors_total >= 2, timeout=10)  # retried
            assert bus.stats()["events"].get("acked", 0) == 0  # delivered, not durable: unacked
        await wait_until(lambda: bus.stats()["events"].get("acked", 0) == 300, timeout=10)
        assert store.count() == 300 and sorted(delivered) == sorted(e.event_id for e in sent)
    finally:
        await bridge.close()
        await writer.close()
        store.close()


async def test_healthz_metrics_and_the_dashboard_chip_say_degraded_during_an_outage(
    store_url: str, tmp_path: Any
) -> None:
    store = quick_store(store_url)
    bus = MemoryBus()
    writer = StoreWriter(store, retry=FAST, check_timeout=0.2)
    bridge = TelemetryBridge(
        bus,
        store,
        targets={n: BusTarget(n, bus) for n in NAMES},
        store_writer=writer,
        metrics_interval=None,
    )
    cfg = GatewayConfig(ports=dict.fromkeys(DEFAULT_PORTS, 0), single_port=0, ping_interval=None)
    probes = {"store": store_probe(lambda: bridge.store_health)}
    settings = Settings(hash_cache_path=str(tmp_path / ".hash"))
    await writer.start()
    await bridge.start()
    try:
        async with (
            Gateway(
                None,
                bus,
                store=store,
                config=cfg,
                store_health=bridge.store_health,
                metrics=bridge.metrics_text,
            ) as gw,
            Hub(bus, None, settings, probes=probes, tick_s=0.05, probe_s=0.05) as hub,
        ):
            port = gw.ports["telemetry_bridge"]

            def get(path: str) -> str:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    return str(r.read().decode())

            assert orjson.loads(await asyncio.to_thread(get, "/healthz")) == {"status": "ok"}
            with StoreOutage(store_url):
                await bus.publish(qa5(1)[0])
                await wait_until(lambda: not bridge.store_health.up, timeout=10)
                health = orjson.loads(await asyncio.to_thread(get, "/healthz"))
                metrics = await asyncio.to_thread(get, "/metrics")
                await wait_until(lambda: not hub.digest.status.components["store"].ok)
                chip = hub.digest.status.components["store"]
            assert health["status"] == "degraded" and not health["store"]["up"]
            assert health["store"]["errors_total"] >= 1 and health["store"]["pending"] == 1
            assert "ctas7_store_up 0" in metrics
            errors = next(ln for ln in metrics.splitlines() if ln.startswith("ctas7_store_errors"))
            assert float(errors.split()[-1]) >= 1
            assert "writes failing" in chip.detail
            await wait_until(lambda: bridge.store_health.up, timeout=10)
            assert orjson.loads(await asyncio.to_thread(get, "/healthz")) == {"status": "ok"}
            assert "ctas7_store_up 1" in await asyncio.to_thread(get, "/metrics")
            await wait_until(lambda: hub.digest.status.components["store"].ok)
    finally:
        await bridge.close()
        await writer.close()
        store.close()


def test_postgres_keeps_payloads_as_exact_json_text(fresh_db_url: str) -> None:
    """jsonb refused \\u0000 and rewrote numbers (1e23 came back as an integer, -0.0 as 0)."""
    payload = {"nul": "a\x00b", "k\x00": 1, "big": 1e23, "neg_zero": -0.0, "one": 1.0, "n": 7}
    e = Event.create("x", payload, source_node="t")
    with open_store(fresh_db_url) as store:
        store.append([e])
        store.add_dead_letter(e, "legion", "down")
        ((_, back),) = store.fetch()
        (letter,) = store.dead_letters()
    for got in (back, letter.event):
        assert orjson.dumps(got.payload) == orjson.dumps(payload)


def test_a_jsonb_store_of_an_older_version_is_converted_on_open(fresh_db_url: str) -> None:
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE ctas7_events (seq bigserial PRIMARY KEY, event_id text NOT NULL "
            "UNIQUE, event_type text NOT NULL, timestamp double precision NOT NULL, "
            "source_node text NOT NULL, payload jsonb NOT NULL)"
        )
        conn.execute(
            "INSERT INTO ctas7_events (event_id, event_type, timestamp, source_node, payload) "
            """VALUES ('old', 'x', 1.0, 's', '{"a": [1, 2]}')"""
        )
    with open_store(fresh_db_url) as store:
        store.append([Event.create("x", {"nul": "\x00"}, source_node="t")])
        assert [e.payload for _, e in store.fetch()] == [{"a": [1, 2]}, {"nul": "\x00"}]
    with psycopg.connect(fresh_db_url) as conn:
        kinds = conn.execute(
            "SELECT atttypid::regtype::text FROM pg_attribute WHERE attname IN ('payload', "
            "'event') AND attrelid IN ('ctas7_events'::regclass, 'ctas7_dead_letters'::regclass)"
        ).fetchall()
    assert kinds == [("json",), ("json",)]
