"""The background sender on real sockets: a bridge that comes up late gets everything."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ctas7_panel import events as ev
from ctas7_panel.netutil import free_port
from ctas7_panel.store import open_store
from ctas7_panel.streams.bus import MemoryBus
from ctas7_panel.streams.gateway import DEFAULT_PORTS, Gateway, GatewayConfig
from ctas7_panel.testing.telemetry import TelemetryConfig, TelemetrySender
from tests.waiting import wait_until


async def test_bridge_started_late_receives_every_event(tmp_path: Path) -> None:
    port = free_port()
    store_url = f"sqlite:///{tmp_path / 'events.db'}"
    sender = TelemetrySender(
        TelemetryConfig(
            store_url=store_url,
            bridge_url=f"ws://127.0.0.1:{port}/telemetry_bridge",
            retry_interval=0.1,
        )
    )
    sender.start()
    first = [ev.playwright_test_started(nodeid=f"t::{i}") for i in range(3)]
    for e in first:
        sender.submit(e)
    bridge = f"bridge ws://127.0.0.1:{port}/telemetry_bridge"
    stored = f"event store {store_url}"
    # the bridge is down: once the thread has handled them (the store has them), they wait
    await wait_until(
        lambda: sender.stats[stored]["delivered"] == 3 and sender.stats[bridge]["pending"] == 3,
        "3 events stored and pending for the bridge",
    )

    bus = MemoryBus()
    ports = {**dict.fromkeys(DEFAULT_PORTS, 0), "telemetry_bridge": port}
    config = GatewayConfig(ports=ports, ping_interval=None)
    async with bus, Gateway(None, bus, config=config, endpoints=("telemetry_bridge",)):
        sub = await bus.subscribe("bridge", topic="events", start="earliest")
        later = [ev.playwright_test_started(nodeid=f"t::{i}") for i in range(3, 5)]
        for e in later:
            sender.submit(e)
        problems = await asyncio.to_thread(sender.close, 5.0)
        msgs = await sub.get(10, timeout=2)
        await sub.ack(*msgs)
        await sub.close()
    assert problems == []
    assert [m.event.event_id for m in msgs] == [e.event_id for e in first + later]
    store = open_store(store_url)
    try:
        assert store.count() == 5
    finally:
        store.close()


def test_store_down_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    sender = TelemetrySender(TelemetryConfig(store_url=f"sqlite:///{blocker}/events.db"))
    sender.start()
    sender.submit(ev.playwright_test_started(nodeid="t::a"))
    problems = sender.close(5.0)
    assert len(problems) == 1
    assert problems[0].startswith("event store sqlite:///") and "1 event(s)" in problems[0]
