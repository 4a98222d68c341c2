"""One bad event never stops anything: each poison case of issue 12, then 50 good events.

The whole in-process pipeline, real parts: the gateway's ingress and ``/dioxus_events`` feed on a
real websocket, the memory bus, the bridge with its targets, the store (SQLite and PostgreSQL),
Neural Mux and the dashboard hub. Each case sends its poison, checks it is stored or kept as a
dead letter with its reason, then sends 50 good events and checks every one of them is in the
history, on the feed, recorded by Neural Mux and folded by the dashboard.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from ctas7_panel import events as ev
from ctas7_panel.bridge.bridge import TelemetryBridge
from ctas7_panel.bridge.targets import BusTarget, WebSocketTarget
from ctas7_panel.dashboard.hub import Hub
from ctas7_panel.dashboard.models import DashboardState
from ctas7_panel.dashboard.session import SessionFeed
from ctas7_panel.events import Event
from ctas7_panel.mux.service import NeuralMux
from ctas7_panel.settings import Settings
from ctas7_panel.store import EventStore, open_store
from ctas7_panel.streams.bus import MemoryBus
from ctas7_panel.streams.gateway import DEFAULT_PORTS, Gateway, GatewayConfig
from ctas7_panel.streams.redis_bus import RedisStreamsBus

from .conftest import Receiver, wait_until

NAMES = ("legion", "dashboard", "neural_mux")


def deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


@dataclass
class Pipeline:
    store: EventStore
    bus: MemoryBus
    bridge: TelemetryBridge
    gateway: Gateway
    mux: NeuralMux
    hub: Hub
    ingress: ClientConnection
    feed: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, frame: str | bytes) -> dict[str, Any]:
        await self.ingress.send(frame)
        async with asyncio.timeout(10):
            reply: dict[str, Any] = orjson.loads(await self.ingress.recv())
        return reply

    async def fifty_flow(self, tag: str) -> None:
        """50 good events: acked, stored, on the feed, recorded by Neural Mux, on the dashboard."""
        before = self.mux.stats["received"]
        ids = []
        for i in range(50):
            reply = await self.send(
                orjson.dumps({"event_type": "qa5_validation", "payload": {"status": tag, "i": i}})
            )
            ids.append(reply["ack"])
        want = set(ids)
        await wait_until(lambda: want <= {e.event_id for _, e in self.store.fetch()}, 15)
        await wait_until(lambda: want <= {f["event_id"] for f in self.feed}, 15)
        await wait_until(lambda: all(self.hub.digest.record(i) is not None for i in ids), 15)
        await wait_until(lambda: self.mux.stats["received"] >= before + 50, 15)

    def stored(self, event_id: str) -> Event:
        return next(e for _, e in self.store.fetch() if e.event_id == event_id)

    def letters(self, target: str) -> list[Any]:
        return self.store.dead_letters(target=target)


@pytest.fixture
async def pipe(store_url: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    store = open_store(store_url)
    bus = MemoryBus()

    async def keep(event: Event, target: str, reason: str) -> None:
        await asyncio.to_thread(store.add_dead_letter, event, target, reason)

    bridge = TelemetryBridge(
        bus, store, targets={n: BusTarget(n, bus) for n in NAMES}, metrics_interval=None
    )
    cfg = GatewayConfig(ports=dict.fromkeys(DEFAULT_PORTS, 0), single_port=0, ping_interval=None)
    gateway = Gateway(None, bus, store=store, config=cfg, store_health=bridge.store_health)
    mux = NeuralMux(bus=bus, backend="memory://", dead_letter=keep)
    hub = Hub(bus, store, Settings(hash_cache_path=str(tmp_path / ".hash")), tick_s=0.05)
    await bridge.start()
    await mux.start()
    await gateway.start()
    await hub.start()
    pipeline: Pipeline | None = None
    try:
        async with (
            connect(gateway.url("telemetry_bridge")) as ingress,
            connect(gateway.url("dioxus_events")) as feed_ws,
        ):
            pipeline = Pipeline(store, bus, bridge, gateway, mux, hub, ingress)

            async def read_feed() -> None:
                assert pipeline is not None
                async for frame in feed_ws:
                    pipeline.feed.append(orjson.loads(frame))

            reader = asyncio.create_task(read_feed())
            await wait_until(lambda: gateway.client_count("dioxus_events") == 1)
            yield pipeline
            reader.cancel()
    finally:
        await hub.close()
        await gateway.close()
        await bridge.close()
        await mux.close()
        store.close()


# --- at the edge: the ingress -------------------------------------------------------------------


async def test_300_levels_of_nesting_get_an_error_frame_and_a_dead_letter(pipe: Pipeline) -> None:
    frame = orjson.dumps({"event_type": "qa5_validation", "payload": {"status": "x", "d": 0}})
    frame = frame.replace(b'"d":0', b'"d":' + b"[" * 300 + b"]" * 300)
    reply = await pipe.send(frame)
    assert reply["field"] == "payload" and "levels deep" in reply["error"]
    await pipe.fifty_flow("after-deep")
    (kept,) = pipe.letters("ingress")
    assert kept.event.payload["frame"] == frame.decode() and "levels deep" in kept.reason


async def test_nul_in_a_payload_is_stored_losslessly_and_refused_in_source_node(
    pipe: Pipeline,
) -> None:
    """PostgreSQL's jsonb refused \\u0000 (the writer stalled); the json column keeps it."""
    payload = {"status": "a\u0000b", "k\u0000": "\u0000"}
    ack = await pipe.send(orjson.dumps({"event_type": "qa5_validation", "payload": payload}))
    reply = await pipe.send(
        orjson.dumps({"event_type": "x", "source_node": "a\u0000", "payload": {}})
    )
    assert reply["field"] == "source_node" and "NUL" in reply["error"]
    await pipe.fifty_flow("after-nul")
    assert pipe.stored(ack["ack"]).payload == payload
    assert any(f["event_id"] == ack["ack"] for f in pipe.feed)
    assert len(pipe.letters("ingress")) == 1


@pytest.mark.parametrize(
    "timestamp",
    [b"1e300", b'"yesterday"', b"[1, 2]", b'{"t": 1}', b"1e400", b"-5", b"true"],
)
async def test_bad_timestamps_get_an_error_frame_the_socket_stays_open(
    pipe: Pipeline, timestamp: bytes
) -> None:
    frame = b'{"event_type": "qa5_validation", "payload": {"status": "x"}, "timestamp": '
    reply = await pipe.send(frame + timestamp + b"}")
    assert "error" in reply, reply
    if timestamp != b"1e400":  # not JSON at all (orjson: a number that is infinity)
        assert reply["field"] == "timestamp" and "2100-01-01" in reply["error"]
    await pipe.fifty_flow("after-timestamp")
    assert pipe.gateway.stats.rejected == 1
    (kept,) = pipe.letters("ingress")
    assert kept.event.payload["frame"].endswith(timestamp.decode() + "}")


async def test_a_250_kb_bad_timestamp_is_answered_with_memory_bounded_by_the_frame(
    pipe: Pipeline,
) -> None:
    """Before: 33 -> 509 MiB, closed with 1011."""
    frame = b'{"event_type": "x", "payload": {}, "timestamp": "' + b"a" * 250_000 + b'"}'
    tracemalloc.start()
    try:
        reply = await pipe.send(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply["field"] == "timestamp" and len(reply["error"]) < 300
    assert peak < 20 * len(frame), f"{peak:,} bytes at peak for a {len(frame):,}-byte frame"
    await pipe.fifty_flow("after-big")
    (kept,) = pipe.letters("ingress")
    payload = kept.event.payload
    assert payload["truncated"] and payload["frame_bytes"] == len(frame)
    assert len(payload["frame"]) == pipe.gateway.config.reject_keep_bytes


# --- behind the edge: producers that write to the bus directly -----------------------------------


async def test_one_event_no_sink_can_write_is_contained_by_every_consumer(pipe: Pipeline) -> None:
    """An in-process producer's event with an integer orjson cannot write: the store, the feeds
    and Neural Mux (float() overflows) each keep it as a dead letter; everything after flows."""
    poison = Event("evt_poison", "qa5_validation", 1.0, "direct", {"status": "ok", "n": 10**400})
    await pipe.bus.publish(poison)
    await wait_until(lambda: len(pipe.letters("store")) == 1, 15)
    # the dashboard's transform keeps only the status; Legion's and Neural Mux's carry n
    await wait_until(lambda: len(pipe.letters("feed:legion_events")) == 1, 15)
    await wait_until(lambda: len(pipe.letters("feed:mux_events")) == 1, 15)
    await wait_until(lambda: len(pipe.letters("consumer:neural_mux")) == 1, 15)
    assert "Integer exceeds 64-bit range" in pipe.letters("store")[0].reason
    assert "OverflowError" in pipe.letters("consumer:neural_mux")[0].reason
    await pipe.fifty_flow("after-poison")
    await wait_until(lambda: pipe.bridge.in_flight == 0)
    # the poison was acked too (kept, not lost): nothing pending in the bridge's group
    await wait_until(lambda: not pipe.bus._groups["events"]["bridge"].pending)


async def test_a_timestamp_of_1e300_does_not_break_dashboard_sessions(pipe: Pipeline) -> None:
    """Before: OverflowError in the session clock for every new session, traceback shown."""
    odd = Event("evt_1e300", "qa5_validation", 1e300, "direct", {"status": "ok"})
    bad_schema = Event(
        "evt_schema", "schema_updated", 2.0, "direct", {"new_hash": "h", "old_hash": 1}
    )
    await pipe.bus.publish(odd)
    await pipe.bus.publish(bad_schema)
    await wait_until(lambda: pipe.hub.digest.record("evt_schema") is not None)
    state = DashboardState()
    session = SessionFeed(pipe.hub.digest, state)
    session.flush()  # a new session, with both events in the digest
    assert state.events is not None
    row = next(r for r in state.events.appended if r["id"] == "evt_1e300")
    assert row["time"] == "—"
    assert next(r for r in state.events.table_batch if r["id"] == "evt_1e300")["time"] == "—"
    await pipe.fifty_flow("after-1e300")
    session.flush_updates()
    session.flush_slow()
    shown = {r.event_id for r in state.events.latest}
    assert len(shown) == state.events.list_size  # the live list is full of the good ones
    assert session.errors >= 1  # the schema panel skipped the integer old_hash, nothing else
    assert pipe.stored("evt_1e300").timestamp == 1e300  # the history keeps it as sent
    df = pipe.store.load_events(types=["qa5_validation"])
    assert df["timestamp"].isna().sum() == 1  # shown as NaT, the rest readable


async def test_a_websocket_target_dead_letters_an_event_it_cannot_encode_at_once(
    store: EventStore, receiver: Receiver
) -> None:
    bus = MemoryBus()
    targets = {
        "legion": WebSocketTarget("legion", receiver.url, ack_timeout=1.0),
        "dashboard": BusTarget("dashboard", bus),
        "neural_mux": BusTarget("neural_mux", bus),
    }
    async with TelemetryBridge(bus, store, targets=targets, metrics_interval=None) as bridge:
        await bus.publish(Event("evt_big", "qa5_validation", 1.0, "d", {"status": "x", "n": 2**70}))
        good = [ev.qa5_validation(status="ok", i=i) for i in range(50)]
        for e in good:
            await bus.publish(e)
        await wait_until(lambda: len(receiver.applied) == 50, 15)
        await wait_until(lambda: bridge.in_flight == 0, 15)
        snap = bridge.metrics_snapshot()["targets"]["legion"]
    (letter,) = store.dead_letters(target="invalid:legion")  # it breaks the edge's rules
    assert letter.attempts == 1 and "cannot take this event" in letter.reason
    assert snap["retried"] == 0  # no retry of an event that cannot be sent
    assert set(receiver.applied) == {e.event_id for e in good}


@pytest.mark.redis
async def test_a_foreign_deep_entry_on_redis_is_dead_lettered_by_store_and_targets(
    redis_url: str, store: EventStore
) -> None:
    """A producer writing to the stream directly: 300 levels (orjson reads up to 1024). The store
    and each bus target (whose publish cannot encode it) keep it; the 50 after it flow."""
    async with RedisStreamsBus(redis_url, claim_idle=1) as bus:
        targets = {n: BusTarget(n, bus) for n in NAMES}
        sink = await bus.subscribe("check", topic="target.dashboard")
        async with TelemetryBridge(bus, store, targets=targets, metrics_interval=None) as bridge:
            doc = {
                "event_id": "evt_foreign",
                "event_type": "qa5_validation",
                "timestamp": 1.0,
                "source_node": "foreign",
                "payload": {"status": "x", "d": deep(300)},
            }
            await bus.redis.xadd(bus.key("events"), {"e": json.dumps(doc)})
            good = [ev.qa5_validation(status="ok", i=i) for i in range(50)]
            await bus.publish_many(good)
            got: set[str] = set()
            async with asyncio.timeout(15):
                while len(got) < 50:
                    got |= {m.event.event_id for m in await sink.get(100, timeout=0.5)}
            await wait_until(lambda: bridge.in_flight == 0, 15)
            await wait_until(lambda: store.count() == 50, 15)
            pending = await bus.redis.xpending(bus.key("events"), "bridge")
        letters = {(d.target, d.event.event_id) for d in store.dead_letters()}
    # the dashboard's transform keeps only the status: that target can take it
    assert got == {e.event_id for e in good} | {"evt_foreign"}
    # Legion's and Neural Mux's carry the deep value: kept wrapped as invalid_event (it breaks
    # the edge's rules, so it is never replayed), dead-lettered at once, no retries
    assert len(letters) == 3
    assert {t for t, _ in letters} == {"store", "invalid:legion", "invalid:neural_mux"}
    assert pending["pending"] == 0
