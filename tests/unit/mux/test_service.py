"""NeuralMux in one process: bus consumption, pattern subscriptions, listeners, dedupe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ctas7_panel import events as ev
from ctas7_panel.errors import EventError, UsageError
from ctas7_panel.events import Event
from ctas7_panel.mux import MuxMessage, NeuralMux
from ctas7_panel.mux.backends import MemoryKpiBackend
from ctas7_panel.mux.metrics import KpiConfig
from ctas7_panel.settings import Settings
from ctas7_panel.streams.bus import MemoryBus


def delivered(topic: str, data: dict[str, object]) -> Event:
    """An event as the bridge delivers it on target.neural_mux."""
    base = Event.create("task_executed", _task_payload(), source_node="legion")
    return base.with_payload({"topic": topic, "data": data, "routing_key": "task_telemetry"})


def _task_payload() -> dict[str, object]:
    return {"task_id": "t", "name": "n", "status": "succeeded", "duration_ms": 1.0}


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    async with MemoryBus() as b:
        yield b


async def test_consumes_target_neural_mux_and_fans_out_by_pattern(bus: MemoryBus) -> None:
    async with NeuralMux(bus=bus) as mux:
        schema_sub = mux.subscribe("ctas7.schema.*")
        all_sub = mux.subscribe("ctas7.#")
        heard: list[str] = []

        async def on_task(m: MuxMessage) -> None:
            heard.append(m.topic)

        mux.add_listener(on_task, "ctas7.task.*")
        assert mux.listeners_count == 3
        await bus.publish(
            delivered("ctas7.task.executed", {"duration_ms": 5}), topic="target.neural_mux"
        )
        await bus.publish(
            delivered("ctas7.schema.update", {"table_count": 7}), topic="target.neural_mux"
        )
        got = await asyncio.wait_for(schema_sub.get(), 5)
        assert got is not None and got.topic == "ctas7.schema.update"
        topics = [(await all_sub.get(timeout=5)) for _ in range(2)]
        assert [m.topic for m in topics if m] == ["ctas7.task.executed", "ctas7.schema.update"]
        assert heard == ["ctas7.task.executed"]
        kpis = await mux.kpis()
        assert kpis["topics"]["ctas7.schema.update"]["values"] == {"table_count": 7.0}
        assert kpis["topics"]["ctas7.task.executed"]["messages_total"] == 1
        assert mux.topics() == ["ctas7.schema.update", "ctas7.task.executed"]
        mux.remove_listener(on_task)
        schema_sub.close()
        assert mux.listeners_count == 1
    assert await all_sub.get(timeout=0.1) is None  # closed with the mux


async def test_raw_events_get_the_bridge_topic_and_bad_payloads_are_rejected(
    bus: MemoryBus,
) -> None:
    async with NeuralMux(bus=bus, consume=False) as mux:
        raw = ev.task_executed(task_id="t1", name="q", status="failed", duration_ms=3.0)
        m = await mux.handle_event(raw)
        assert m is not None and m.topic == "ctas7.task.executed"
        bad = raw.with_payload({"topic": "no spaces allowed", "data": {}})
        with pytest.raises(EventError) as err:
            await mux.handle_event(bad)
        assert err.value.field == "payload.topic"
        assert mux.stats["rejected"] == 1
        kpis = await mux.kpis()
        assert kpis["topics"]["ctas7.task.executed"]["statuses"] == {"failed": 1}


async def test_a_bad_event_on_the_bus_does_not_stop_the_consumer(bus: MemoryBus) -> None:
    async with NeuralMux(bus=bus) as mux:
        sub = mux.subscribe()
        bad = delivered("x", {}).with_payload({"topic": 42})
        await bus.publish(bad, topic="target.neural_mux")
        await bus.publish(delivered("ctas7.ok", {}), topic="target.neural_mux")
        got = await sub.get(timeout=5)
        assert got is not None and got.topic == "ctas7.ok"
        assert mux.stats["rejected"] == 1


async def test_duplicate_event_ids_are_counted_once() -> None:
    async with NeuralMux(consume=False) as mux:
        e = delivered("ctas7.task.executed", {"duration_ms": 2})
        assert await mux.handle_event(e) is not None
        assert await mux.handle_event(e) is None
        kpis = await mux.kpis()
        assert kpis["topics"]["ctas7.task.executed"]["messages_total"] == 1
        assert mux.stats["duplicates"] == 1


async def test_slow_subscriber_loses_oldest_and_counts_it() -> None:
    async with NeuralMux(consume=False) as mux:
        sub = mux.subscribe("#", maxsize=3)
        for i in range(5):
            await mux.publish("ctas7.n", {"i": i})
        assert sub.dropped == 2
        got = [await sub.get(timeout=1) for _ in range(3)]
        assert [m.data["i"] for m in got if m] == [2, 3, 4]
        kpis = await mux.kpis()
        assert kpis["topics"]["ctas7.n"]["messages_total"] == 5  # KPIs saw everything


async def test_listener_errors_are_contained_and_patterns_checked() -> None:
    async with NeuralMux(consume=False) as mux:
        calls: list[int] = []

        def broken(m: MuxMessage) -> None:
            raise RuntimeError("listener bug")

        mux.add_listener(broken)
        mux.add_listener(lambda m: calls.append(1))
        await mux.publish("ctas7.a", {})
        assert calls == [1]
        with pytest.raises(UsageError):
            mux.add_listener(broken, "bad pattern")
        with pytest.raises(EventError):
            await mux.publish("bad topic", {})


async def test_backend_follows_the_bus_url() -> None:
    assert isinstance(NeuralMux(settings=Settings()).backend, MemoryKpiBackend)
    redis_mux = NeuralMux(settings=Settings(bus_url="redis://127.0.0.1:1/0"))
    assert type(redis_mux.backend).__name__ == "RedisKpiBackend"


async def test_clock_drives_windows() -> None:
    now = [1000.0]
    async with NeuralMux(consume=False, clock=lambda: now[0], config=KpiConfig(window_s=5)) as mux:
        for v in (10.0, 20.0, 30.0):
            await mux.publish("ctas7.t", {"duration_ms": v}, timestamp=now[0] - 0.5)
        k = (await mux.kpis())["topics"]["ctas7.t"]
        assert k["latency_ms"]["duration_ms"]["p50"] == 20.0
        assert k["delivery_ms"]["p50"] == pytest.approx(500.0)
        now[0] += 10
        k = (await mux.kpis())["topics"]["ctas7.t"]
        assert k["latency_ms"]["duration_ms"]["window_count"] == 0
        assert "ctas7_mux_messages_total" in await mux.prometheus_text()
