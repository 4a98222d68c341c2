"""MemoryBus: groups, competing consumers, ack, redelivery, overflow policy."""

from __future__ import annotations

import asyncio

import pytest

from ctas7_panel.errors import BusError
from ctas7_panel.events import Event
from ctas7_panel.streams import open_bus
from ctas7_panel.streams.bus import Bus, MemoryBus


def ev(i: int) -> Event:
    return Event.create("ping", {"i": i}, source_node="test")


async def test_every_group_gets_every_event_consumers_compete() -> None:
    bus = MemoryBus()
    a1 = await bus.subscribe("a")
    a2 = await bus.subscribe("a")
    b = await bus.subscribe("b")
    for i in range(10):
        await bus.publish(ev(i))
    got_a = await a1.get(6, timeout=0.1) + await a2.get(10, timeout=0.1)
    got_b = await b.get(10, timeout=0.1)
    assert sorted(m.event.payload["i"] for m in got_a) == list(range(10))
    assert [m.event.payload["i"] for m in got_b] == list(range(10))
    assert {m.group for m in got_b} == {"b"}


async def test_unacked_messages_are_redelivered_after_close() -> None:
    bus = MemoryBus()
    first = await bus.subscribe("g")
    await bus.publish(ev(1))
    await bus.publish(ev(2))
    msgs = await first.get(2, timeout=0.1)
    await first.ack(msgs[0])
    await first.close()
    second = await bus.subscribe("g")
    again = await second.get(5, timeout=0.1)
    assert [m.event.payload["i"] for m in again] == [2]
    assert again[0].delivery_count == 2
    assert bus.stats()["events"]["redelivered"] == 1


async def test_get_times_out_empty_and_iteration_yields() -> None:
    bus = MemoryBus()
    sub = await bus.subscribe("g")
    assert await sub.get(1, timeout=0.01) == []
    await bus.publish(ev(7))
    async for msg in sub:
        assert msg.event.payload == {"i": 7}
        break


async def test_earliest_start_replays_retained_messages() -> None:
    bus = MemoryBus(retention=3)
    for i in range(5):
        await bus.publish(ev(i))
    late = await bus.subscribe("late", start="earliest")
    assert [m.event.payload["i"] for m in await late.get(10, timeout=0.1)] == [2, 3, 4]


async def test_overflow_goes_to_the_sink_and_is_counted() -> None:
    sunk: list[tuple[str, str, str]] = []

    async def sink(event: Event, target: str, reason: str) -> None:
        sunk.append((event.event_id, target, reason))

    bus = MemoryBus(capacity=2, put_timeout=0.01, overflow_sink=sink)
    await bus.subscribe("slow")
    events = [ev(i) for i in range(3)]
    for e in events:
        await bus.publish(e)
    assert [s[0] for s in sunk] == [events[2].event_id]
    assert sunk[0][1] == "bus:slow" and "overflow" in sunk[0][2]
    assert bus.stats()["events"]["overflowed"] == 1


async def test_overflow_without_sink_raises_instead_of_dropping() -> None:
    bus = MemoryBus(capacity=1, put_timeout=0.01)
    await bus.subscribe("slow")
    await bus.publish(ev(0))
    with pytest.raises(BusError, match="no overflow sink"):
        await bus.publish(ev(1))


async def test_producer_waits_for_room_then_proceeds() -> None:
    bus = MemoryBus(capacity=1, put_timeout=2.0)
    sub = await bus.subscribe("g")
    await bus.publish(ev(0))
    blocked = asyncio.create_task(bus.publish(ev(1)))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    (msg,) = await sub.get(1, timeout=0.1)
    await sub.ack(msg)
    await asyncio.wait_for(blocked, 1)
    assert [m.event.payload["i"] for m in await sub.get(1, timeout=0.1)] == [1]


async def test_open_bus_memory_and_protocol() -> None:
    bus = open_bus("memory://")
    assert isinstance(bus, Bus)
    async with bus:
        await bus.publish(ev(0))
    with pytest.raises(BusError):
        await bus.publish(ev(1))


async def test_publish_many_keeps_order_and_overflow_policy() -> None:
    sunk: list[str] = []

    async def sink(event: Event, target: str, reason: str) -> None:
        sunk.append(event.event_id)

    bus = MemoryBus(capacity=5, put_timeout=0.01, overflow_sink=sink)
    a = await bus.subscribe("a")
    b = await bus.subscribe("b")
    batch = [ev(i) for i in range(7)]
    ids = await bus.publish_many(batch)
    assert len(ids) == 7 and len(set(ids)) == 7
    got = await a.get(10, timeout=0.1)
    assert [m.event.payload["i"] for m in got] == [0, 1, 2, 3, 4]
    assert [m.event.payload["i"] for m in await b.get(10, timeout=0.1)] == [0, 1, 2, 3, 4]
    assert sunk == [batch[5].event_id, batch[6].event_id] * 2  # per group, nothing silent
    assert bus.stats()["events"]["overflowed"] == 4


async def test_an_ephemeral_group_goes_with_its_subscription() -> None:
    """A closed per-process group would otherwise fill up to capacity and make every publisher
    wait ``put_timeout`` for it."""
    bus = MemoryBus(capacity=2, put_timeout=0.05)
    mine = await bus.subscribe("gateway.host.1.1", ephemeral=True)
    await bus.publish(ev(1))
    assert [m.event.payload["i"] for m in await mine.get(5, timeout=0.1)] == [1]
    await mine.close()
    for i in range(5):  # no group holds them: no waiting, no overflow
        await bus.publish(ev(i))
    assert "overflowed" not in bus.stats()["events"]
    again = await bus.subscribe("gateway.host.1.1", ephemeral=True)
    assert await again.get(5, timeout=0.05) == []  # a new group, starting now
