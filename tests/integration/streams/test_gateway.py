"""The websocket gateway over real sockets: ingress, feeds, token, /metrics, slow consumers."""

from __future__ import annotations

import asyncio
import base64
import os
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from ctas7_panel import events as ev
from ctas7_panel.bridge.bridge import TelemetryBridge
from ctas7_panel.bridge.targets import BusTarget
from ctas7_panel.errors import ConfigError
from ctas7_panel.settings import Settings
from ctas7_panel.store import EventStore, open_store
from ctas7_panel.streams.bus import MemoryBus
from ctas7_panel.streams.gateway import DEFAULT_PORTS, Gateway, GatewayConfig

ZERO = dict.fromkeys(DEFAULT_PORTS, 0)
FEEDS = ("dioxus_events", "legion_events", "mux_events", "schema_events")
TOKEN = "gateway-test-token-4f1c9e"  # tests/integration/streams/test_log_hygiene.py greps for it
VALID = orjson.dumps(
    {"event_type": "qa5_validation", "payload": {"status": "passed"}, "source_node": "qa5"}
)


@pytest.fixture
def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    s = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    yield s  # type: ignore[misc]
    s.close()


def config(**kw: object) -> GatewayConfig:
    return GatewayConfig(**{"ports": ZERO, "ping_interval": None, **kw})  # type: ignore[arg-type]


async def recv_json(conn: ClientConnection, timeout: float = 5.0) -> dict:  # type: ignore[type-arg]
    async with asyncio.timeout(timeout):
        return orjson.loads(await conn.recv())  # type: ignore[no-any-return]


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_ingress_acks_valid_frames_and_answers_errors_keeping_the_socket(
    store: EventStore,
) -> None:
    bus = MemoryBus()
    sub = await bus.subscribe("check")
    async with Gateway(
        None, bus, store=store, config=config(max_event_bytes=2048, reject_keep_bytes=1024)
    ) as gw:
        async with connect(gw.url("telemetry_bridge")) as ws:
            await ws.send(VALID)
            ack = await recv_json(ws)
            await ws.send("{nope")
            err1 = await recv_json(ws)
            await ws.send(orjson.dumps({"event_type": "schema_updated", "payload": {}}))
            err2 = await recv_json(ws)
            await ws.send(b'{"event_type": "x", "payload": {"pad": "' + b"a" * 3000 + b'"}}')
            err3 = await recv_json(ws)
            await ws.send(VALID)  # still open
            ack2 = await recv_json(ws)
        await eventually(lambda: gw.stats.rejects_kept == 3, "the 3 rejects kept")
        assert gw.stats.accepted == 2 and gw.stats.rejected == 3
    [m1, m2] = await sub.get(5, timeout=1)
    assert ack == {"ack": m1.event.event_id} and ack2 == {"ack": m2.event.event_id}
    assert m1.event.source_node == "qa5"
    assert err1["field"] is None and "not valid JSON" in err1["error"]
    assert err2 == {
        "error": "schema_updated: missing field 'payload.status'",
        "field": "payload.status",
    }
    assert "over the limit of 2,048 bytes" in err3["error"]
    kept = store.dead_letters(target="ingress")
    assert len(kept) == 3
    assert kept[0].event.payload["frame"] == "{nope"
    big = kept[2].event.payload
    assert (big["truncated"], big["frame_bytes"], len(big["frame"])) == (True, 3043, 1024)


async def test_feeds_relay_target_topics_once_per_event(store: EventStore) -> None:
    bus = MemoryBus()
    targets = {n: BusTarget(n, bus) for n in ("legion", "dashboard", "neural_mux")}
    async with (
        TelemetryBridge(bus, store, targets=targets, metrics_interval=None) as bridge,
        Gateway(None, bus, store=store, config=config()) as gw,
    ):
        assert len(set(gw.ports.values())) == 5  # port 0: a server per endpoint
        async with (
            connect(gw.url("dioxus_events")) as dash1,
            connect(gw.url("dioxus_events")) as dash2,
            connect(gw.url("legion_events")) as legion,
            connect(gw.url("mux_events")) as mux,
            connect(gw.url("schema_events")) as schema,
            connect(gw.url("telemetry_bridge")) as ingress,
        ):
            await eventually(
                lambda: [gw.client_count(n) for n in FEEDS] == [2, 1, 1, 1], "4 feeds' clients"
            )
            e = ev.schema_updated(new_hash="h", old_hash=None, schema_path="s", table_count=1)
            await ingress.send(e.to_json())
            await recv_json(ingress)
            await bus.publish(e, topic="target.dashboard")  # a redelivery: relayed once only
            got = {
                "d1": await recv_json(dash1),
                "d2": await recv_json(dash2),
                "l": await recv_json(legion),
                "m": await recv_json(mux),
                "s": await recv_json(schema),
            }
            with pytest.raises(TimeoutError):
                await recv_json(dash1, timeout=0.3)
        assert bridge.metrics_snapshot()["delivered"] == 3
    assert got["d1"] == got["d2"]
    assert got["d1"]["payload"]["ui_action"] == "display_schema_update_notification"
    assert got["l"]["payload"]["action"] == "reload_database_types"
    assert got["m"]["payload"]["topic"] == "ctas7.schema.update"
    assert got["s"]["payload"] == e.payload  # the raw schema event
    assert {g["event_id"] for g in got.values()} == {e.event_id}


@pytest.mark.parametrize("compression", [False, True])
async def test_a_batch_reaches_every_client_whole_and_in_order(compression: bool) -> None:
    """Frames encoded once per batch (raw writes) or per client (permessage-deflate)."""
    bus = MemoryBus()
    async with Gateway(None, bus, config=config(compression=compression)) as gw:
        async with (
            connect(gw.url("dioxus_events"), max_queue=None) as c1,
            connect(gw.url("dioxus_events"), max_queue=None, compression=None) as c2,
        ):
            await eventually(lambda: gw.client_count("dioxus_events") == 2, "2 clients")
            events = [
                ev.Event.create("tick", {"i": i, "pad": "é" * (i % 700)}, source_node="t")
                for i in range(300)  # ~100 kB: several SEND_CHUNK_BYTES writes
            ]
            await bus.publish_many(events, topic="target.dashboard")
            for conn in (c1, c2):
                got = [await recv_json(conn) for _ in events]
                assert [g["event_id"] for g in got] == [e.event_id for e in events]
                assert got[-1]["payload"] == events[-1].payload
            assert (c1.protocol.extensions != []) is compression
        assert gw.stats.sent["dioxus_events"] == 2 * len(events)


async def test_single_port_mode_serves_every_path_and_404s_others() -> None:
    bus = MemoryBus()
    async with Gateway(None, bus, config=config(single_port=0)) as gw:
        assert len(set(gw.ports.values())) == 1
        port = gw.ports["telemetry_bridge"]
        for name in DEFAULT_PORTS:
            async with connect(gw.url(name)):
                pass
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"ws://127.0.0.1:{port}/nowhere"):
                pass
        assert info.value.response.status_code == 404
        assert await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/healthz") == (
            200,
            '{"status":"ok"}\n',
        )


async def test_token_is_required_as_header_or_query() -> None:
    bus = MemoryBus()
    async with Gateway(None, bus, config=config(single_port=0, token=TOKEN)) as gw:
        port = gw.ports["dioxus_events"]
        with pytest.raises(InvalidStatus) as info:
            async with connect(gw.url("dioxus_events")):
                pass
        assert info.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            async with connect(gw.url("dioxus_events") + "?token=wrong"):
                pass
        async with connect(gw.url("dioxus_events") + "?token=" + TOKEN):
            pass
        async with connect(
            gw.url("dioxus_events"), additional_headers={"Authorization": "Bearer " + TOKEN}
        ):
            pass
        assert (await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics"))[0] == 401
        status, _ = await asyncio.to_thread(
            http_get, f"http://127.0.0.1:{port}/metrics", {"Authorization": "Bearer " + TOKEN}
        )
        assert status == 200
        assert gw.stats.unauthorized == 3


def test_binding_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="CTAS7_TOKEN"):
        GatewayConfig(bind="0.0.0.0")
    GatewayConfig(bind="0.0.0.0", token=TOKEN)


def test_ports_follow_local_endpoints_from_settings() -> None:
    s = Settings(dioxus_endpoint="ws://127.0.0.1:9104/dioxus_events")
    cfg = GatewayConfig.from_settings(s, ports={"mux_events": 9200})
    assert cfg.ports["dioxus_events"] == 9104 and cfg.ports["mux_events"] == 9200
    assert cfg.ports["telemetry_bridge"] == 8002


async def test_metrics_endpoint_serves_prometheus_text(store: EventStore) -> None:
    bus = MemoryBus()
    targets = {n: BusTarget(n, bus) for n in ("legion", "dashboard", "neural_mux")}
    async with TelemetryBridge(bus, store, targets=targets, metrics_interval=None) as bridge:
        cfg = config(single_port=0)
        async with Gateway(None, bus, config=cfg, metrics=bridge.metrics_text) as gw:
            await bridge.submit([ev.qa5_validation(status="passed")])
            async with connect(gw.url("telemetry_bridge")) as ws:
                await ws.send("bad")
                await recv_json(ws)
            status, text = await asyncio.to_thread(
                http_get, f"http://127.0.0.1:{gw.ports['mux_events']}/metrics"
            )
    assert status == 200
    assert 'ctas7_bridge_delivered_total{route="qa5_validation",target="legion"} 1' in text
    assert "ctas7_gateway_ingress_rejected_total 1" in text
    assert 'ctas7_bridge_success_ratio{route="qa5_validation",target="neural_mux"} 1.0' in text


async def raw_ws(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket client that completes the handshake and then stops reading."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 101 " in head
    writer.transport.pause_reading()  # type: ignore[attr-defined]
    return reader, writer


async def close_code(reader: asyncio.StreamReader) -> int:
    """Read server frames until the close frame; return its code."""
    while True:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        data = await reader.readexactly(n)
        if b0 & 0x0F == 0x8:
            return int.from_bytes(data[:2], "big")


async def test_a_slow_consumer_is_closed_with_4008_and_memory_stays_bounded() -> None:
    bus = MemoryBus()
    cfg = config(max_send_buffer=64 * 1024)
    async with Gateway(None, bus, config=cfg) as gw:
        fast = await connect(gw.url("dioxus_events"), max_queue=None)
        reader, writer = await raw_ws(gw.ports["dioxus_events"], "dioxus_events")
        await eventually(lambda: gw.client_count("dioxus_events") == 2, "2 clients")
        received = 0

        async def drain() -> None:
            nonlocal received
            async for _ in fast:
                received += 1

        task = asyncio.create_task(drain())
        n = 3000  # 12 MB (no compression): more than the kernel buffers absorb
        for i in range(n):
            e = ev.Event.create("tick", {"pad": "x" * 4000, "i": i}, source_node="t")
            await bus.publish(e, topic="target.dashboard")
            if i % 10 == 0:  # bursts of 40 kB, under the limit: the fast client keeps up
                await asyncio.sleep(0)
                for c in list(gw._clients["dioxus_events"]):
                    # at most the limit plus one write (SEND_CHUNK_BYTES, or one frame)
                    assert c.transport.get_write_buffer_size() < cfg.max_send_buffer + 8 * 4100
        async with asyncio.timeout(10):
            while received < n:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert gw.stats.slow_closed == 1
        assert gw.client_count("dioxus_events") == 1  # the fast one got everything
        writer.transport.resume_reading()  # type: ignore[attr-defined]
        async with asyncio.timeout(10):
            assert await close_code(reader) == 4008
        writer.close()
        task.cancel()
        await fast.close()


async def test_ten_thousand_malformed_frames_among_valid_traffic(store: EventStore) -> None:
    """Valid traffic still routed, every reject answered, counted and kept. (Memory under this
    traffic, and the frame rate: ``benchmarks/gateway.py``.)"""
    bus = MemoryBus(capacity=100_000)
    targets = {n: BusTarget(n, bus) for n in ("legion", "dashboard", "neural_mux")}
    bad_frames = [
        b"not json",
        b"[]",
        b'{"event_type": "x"}',
        b'{"event_type": 7, "payload": {}}',
        b'{"event_type": "schema_updated", "payload": {"status": 1}}',
        b'{"event_type": "x", "payload": {}, "extra": 1}',
        b'{"event_type": "x", "payload": {}, "timestamp": -1}',
        b"\xff\xfe",
    ]
    async with (
        TelemetryBridge(bus, store, targets=targets, metrics_interval=None) as bridge,
        Gateway(None, bus, store=store, config=config()) as gw,
        connect(gw.url("telemetry_bridge")) as ws,
    ):

        async def round_(n_bad: int, n_good: int) -> tuple[int, int]:
            acks = errors = 0
            for i in range(n_bad + n_good):
                good = i % ((n_bad + n_good) // n_good) == 0
                await ws.send(VALID if good else bad_frames[i % len(bad_frames)])
                reply = orjson.loads(await ws.recv())
                if "ack" in reply:
                    acks += 1
                else:
                    assert set(reply) == {"error", "field"}
                    errors += 1
            return acks, errors

        acks, errors = await round_(10_000, 1000)
        await eventually(
            lambda: bridge.metrics.consumed >= 1000 and gw.stats.rejects_kept >= 10_000,
            "everything consumed and kept",
            timeout=20,
        )
    assert (acks, errors) == (1000, 10_000)
    assert (gw.stats.accepted, gw.stats.rejected) == (1000, 10_000)
    assert bridge.metrics.consumed == 1000
    assert len(store.dead_letters(target="ingress")) == gw.stats.rejected
    snap = bridge.metrics_snapshot()
    assert snap["targets"]["legion"]["delivered"] == gw.stats.accepted
    assert snap["success_rate"] == 1.0


async def test_every_skipped_send_is_counted_per_endpoint_and_reason() -> None:
    """A feed client that cannot take a batch now (here: its closing handshake has begun) misses
    it, and that is counted (never a silent skip); an open client still gets it."""
    from ctas7_panel.bridge.bridge import gateway_metrics_text

    bus = MemoryBus()
    async with Gateway(None, bus, config=config(), metrics=gateway_metrics_text) as gw:
        async with (
            connect(gw.url("dioxus_events")) as open_client,
            connect(gw.url("dioxus_events")) as closing_client,
        ):
            async with asyncio.timeout(5):
                while gw.client_count("dioxus_events") < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            local = closing_client.local_address
            (closing,) = [c for c in gw._clients["dioxus_events"] if c.remote_address == local]
            closing.protocol.send_close(1000)  # the server starts its closing handshake
            frames = [orjson.dumps({"i": i}) for i in range(3)]
            assert gw.broadcast_many("dioxus_events", frames) == 1
            assert [orjson.loads(await open_client.recv()) for _ in frames] == [
                {"i": i} for i in range(3)
            ]
        assert gw.stats.skipped[("dioxus_events", "not_open")] == 3
        text = gw.prometheus()
        assert (
            'ctas7_gateway_feed_sends_skipped_total{endpoint="dioxus_events",reason="not_open"} 3'
            in text
        )
