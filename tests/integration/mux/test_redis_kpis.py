"""Neural Mux KPIs in a real Redis: they survive a restart, are shared, and match references."""

from __future__ import annotations

import random
import secrets

import numpy as np
import pytest

from ctas7_panel.errors import BusError
from ctas7_panel.events import Event
from ctas7_panel.mux import KpiConfig, NeuralMux, RedisKpiBackend
from ctas7_panel.streams.bus import MemoryBus

pytestmark = pytest.mark.redis

TOPIC = "ctas7.task.executed"


def delivered(duration_ms: float, status: str, ts: float) -> Event:
    base = Event.create(
        "task_executed",
        {"task_id": "t", "name": "n", "status": status, "duration_ms": duration_ms},
        source_node="legion",
        timestamp=ts,
    )
    data = {"status": status, "duration_ms": duration_ms, "rows": 4}
    return base.with_payload({"topic": TOPIC, "data": data, "routing_key": "task_telemetry"})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(redis_url: str, prefix: str, clock: Clock, **kw: object) -> NeuralMux:
    cfg = KpiConfig(window_s=300, rate_window_s=60, max_samples=5000)
    return NeuralMux(backend=RedisKpiBackend(redis_url, cfg, prefix=prefix), config=cfg,
                     clock=clock, consume=False, **kw)  # type: ignore[arg-type]  # fmt: skip


async def test_kpis_survive_a_restart_and_quantiles_match_numpy(redis_url: str) -> None:
    prefix = f"test:{secrets.token_hex(4)}"
    clock = Clock(1_700_000_000.0)
    rng = random.Random(7)
    durations = [round(rng.lognormvariate(3, 0.8), 3) for _ in range(400)]
    events = []
    async with make(redis_url, prefix, clock) as mux:
        for i, d in enumerate(durations):
            clock.now += 0.05
            e = delivered(d, "succeeded" if i % 10 else "failed", ts=clock.now - 0.002)
            events.append(e)
            assert await mux.handle_event(e) is not None
        before = await mux.kpis()
        text_before = await mux.prometheus_text()

    async with make(redis_url, prefix, clock) as restarted:  # a new process, same Redis
        after = await restarted.kpis()
        assert after == before
        assert await restarted.prometheus_text() == text_before
        k = after["topics"][TOPIC]
        assert k["messages_total"] == 400
        assert k["statuses"] == {"succeeded": 360, "failed": 40}
        lat = k["latency_ms"]["duration_ms"]
        for q in (50, 95, 99):
            assert lat[f"p{q}"] == pytest.approx(np.percentile(durations, q), rel=1e-12)
        assert lat["count"] == 400
        assert lat["sum"] == pytest.approx(sum(durations))
        assert k["values"] == {"rows": 4.0}
        # the last 60 s hold 400 * 0.05 s = 20 s of traffic: 400 messages / 60 s
        assert k["rate_per_s"] == pytest.approx(400 / 60)
        # a redelivered event (at-least-once) is not counted again, even after the restart
        assert await restarted.handle_event(events[0]) is None
        assert (await restarted.kpis())["topics"][TOPIC]["messages_total"] == 400
        await restarted.backend.reset()
        assert (await restarted.kpis())["topics"] == {}


async def test_two_mux_processes_share_one_kpi_state(redis_url: str) -> None:
    prefix = f"test:{secrets.token_hex(4)}"
    clock = Clock(1_700_000_000.0)
    async with MemoryBus() as bus:
        a = make(redis_url, prefix, clock, bus=bus)
        a._consume_enabled = True
        b = make(redis_url, prefix, clock, bus=bus)
        b._consume_enabled = True
        async with a, b:
            values = [float(v) for v in range(1, 101)]
            for v in values:
                await bus.publish(delivered(v, "succeeded", clock.now), topic="target.neural_mux")
            for _ in range(500):
                if a.stats["received"] + b.stats["received"] == 100:
                    break
                await _tick()
            assert a.stats["received"] + b.stats["received"] == 100
            ka, kb = await a.kpis(), await b.kpis()
            assert ka == kb
            lat = ka["topics"][TOPIC]["latency_ms"]["duration_ms"]
            assert lat["p50"] == pytest.approx(np.percentile(values, 50))
            assert lat["p99"] == pytest.approx(np.percentile(values, 99))


async def test_samples_are_trimmed_to_the_window_and_the_cap(redis_url: str) -> None:
    prefix = f"test:{secrets.token_hex(4)}"
    clock = Clock(2_000.0)
    cfg = KpiConfig(window_s=10, rate_window_s=5, max_samples=20)
    mux = NeuralMux(
        backend=RedisKpiBackend(redis_url, cfg, prefix=prefix),
        config=cfg,
        clock=clock,
        consume=False,
    )
    async with mux:
        for i in range(50):
            clock.now += 0.01
            await mux.publish(TOPIC, {"duration_ms": float(i)})
        lat = (await mux.kpis())["topics"][TOPIC]["latency_ms"]["duration_ms"]
        assert lat["window_count"] == 20
        assert lat["p50"] == pytest.approx(np.percentile([float(i) for i in range(30, 50)], 50))
        clock.now += 30
        await mux.publish(TOPIC, {"duration_ms": 1000.0})
        k = (await mux.kpis())["topics"][TOPIC]
        assert k["latency_ms"]["duration_ms"]["window_count"] == 1
        assert k["messages_total"] == 51
        assert k["rate_per_s"] == pytest.approx(1 / 5)


async def test_unreachable_redis_is_a_clear_error() -> None:
    from ctas7_panel.netutil import free_port

    mux = NeuralMux(backend=f"redis://127.0.0.1:{free_port()}/0", consume=False)
    with pytest.raises(BusError, match="cannot reach Redis"):
        await mux.start()


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.01)
