"""RedisStreamsBus against a real Redis: the Bus semantics, pending recovery, trimming."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from ctas7_panel.errors import BusError
from ctas7_panel.events import Event
from ctas7_panel.streams import open_bus
from ctas7_panel.streams.bus import Bus
from ctas7_panel.streams.redis_bus import RedisStreamsBus

pytestmark = pytest.mark.redis


def ev(i: int) -> Event:
    return Event.create("ping", {"i": i}, source_node="test")


@pytest.fixture
async def bus(redis_url: str) -> AsyncIterator[RedisStreamsBus]:
    b = RedisStreamsBus(redis_url, prefix=f"t{secrets.token_hex(4)}:", claim_idle=0.3)
    async with b:
        yield b


def ids(msgs: list) -> list[int]:  # type: ignore[type-arg]
    return [m.event.payload["i"] for m in msgs]


async def test_is_a_bus_and_open_bus_picks_it(redis_url: str, bus: RedisStreamsBus) -> None:
    assert isinstance(bus, Bus)
    assert isinstance(open_bus(redis_url), RedisStreamsBus)


async def test_every_group_gets_everything_consumers_compete(bus: RedisStreamsBus) -> None:
    a1 = await bus.subscribe("a", consumer="a1")
    a2 = await bus.subscribe("a", consumer="a2")
    b = await bus.subscribe("b")
    for i in range(10):
        await bus.publish(ev(i))
    got_a = await a1.get(6, timeout=0.5) + await a2.get(10, timeout=0.5)
    assert sorted(ids(got_a)) == list(range(10))
    assert {m.id for m in got_a} and len(got_a) == 10
    assert ids(await b.get(20, timeout=0.5)) == list(range(10))


async def test_publish_many_and_earliest_start(bus: RedisStreamsBus) -> None:
    await bus.publish_many([ev(i) for i in range(5)], topic="t")
    late = await bus.subscribe("late", topic="t", start="earliest")
    new = await bus.subscribe("new", topic="t")
    assert ids(await late.get(10, timeout=0.5)) == list(range(5))
    assert await new.get(10, timeout=0.1) == []


async def test_unacked_entries_come_back_after_close(bus: RedisStreamsBus) -> None:
    first = await bus.subscribe("g", consumer="one")
    for i in range(3):
        await bus.publish(ev(i))
    msgs = await first.get(3, timeout=0.5)
    await first.ack(msgs[0])
    await first.close()
    second = await bus.subscribe("g", consumer="two")
    async with asyncio.timeout(5):
        again: list = []  # type: ignore[type-arg]
        while len(again) < 2:
            again += await second.get(5, timeout=0.2)
    assert sorted(ids(again)) == [1, 2]
    assert all(m.delivery_count == 2 for m in again)


async def test_a_dead_consumers_pending_entries_are_claimed(bus: RedisStreamsBus) -> None:
    dead = await bus.subscribe("g", consumer="dead")
    for i in range(4):
        await bus.publish(ev(i))
    assert len(await dead.get(4, timeout=0.5)) == 4
    dead._keeper.cancel()  # simulate kill -9: no keep-alive, no close
    alive = await bus.subscribe("g", consumer="alive")
    async with asyncio.timeout(5):
        got: list = []  # type: ignore[type-arg]
        while len(got) < 4:
            got += await alive.get(10, timeout=0.1)
    assert sorted(ids(got)) == [0, 1, 2, 3]
    assert bus.stats()["events"]["claimed"] == 4
    await alive.ack(*got)
    pending = await bus.redis.xpending(bus.key("events"), "g")
    assert pending["pending"] == 0


async def test_a_live_consumers_slow_work_is_not_stolen(bus: RedisStreamsBus) -> None:
    slow = await bus.subscribe("g", consumer="slow")
    await bus.publish(ev(1))
    held = await slow.get(1, timeout=0.5)
    other = await bus.subscribe("g", consumer="other")
    stolen: list = []  # type: ignore[type-arg]
    for _ in range(8):  # ~1 s: over 3x claim_idle
        stolen += await other.get(5, timeout=0.12)
    assert stolen == []
    await slow.ack(*held)


async def test_same_consumer_name_rereads_its_own_pending_after_restart(
    redis_url: str, bus: RedisStreamsBus
) -> None:
    sub = await bus.subscribe("g", consumer="worker-1")
    await bus.publish(ev(7))
    assert ids(await sub.get(1, timeout=0.5)) == [7]
    sub._keeper.cancel()
    again_bus = RedisStreamsBus(redis_url, prefix=bus.prefix, claim_idle=60)
    async with again_bus:
        restarted = await again_bus.subscribe("g", consumer="worker-1")
        assert ids(await restarted.get(5, timeout=0.2)) == [7]


async def test_streams_are_trimmed_to_maxlen(redis_url: str) -> None:
    b = RedisStreamsBus(redis_url, prefix=f"t{secrets.token_hex(4)}:", maxlen=100)
    async with b:
        for chunk in range(10):
            await b.publish_many([ev(chunk * 100 + i) for i in range(100)])
        length = await b.redis.xlen(b.key("events"))
    assert 100 <= length < 300  # approximate trimming (MAXLEN ~)


async def test_a_foreign_malformed_entry_goes_to_the_sink(redis_url: str) -> None:
    kept: list[tuple[Event, str, str]] = []

    async def sink(event: Event, target: str, reason: str) -> None:
        kept.append((event, target, reason))

    b = RedisStreamsBus(redis_url, prefix=f"t{secrets.token_hex(4)}:", overflow_sink=sink)
    async with b:
        sub = await b.subscribe("g")
        await b.redis.xadd(b.key("events"), {"e": b"{not json"})
        await b.publish(ev(1))
        got = await sub.get(5, timeout=0.5)
    assert ids(got) == [1]
    [(event, target, reason)] = kept
    assert event.event_type == "bus_rejected" and target == "bus:g"
    assert "not valid JSON" in reason and event.payload["raw"] == "{not json"


async def test_batched_reads_and_writes_keep_any_bytes_and_order(redis_url: str) -> None:
    """publish_many and get go through Lua scripts with length-framed replies: multi-byte
    text, newlines and spaces survive; foreign entries are told apart, whatever path reads them.
    """
    kept: list[tuple[Event, str, str]] = []

    async def sink(event: Event, target: str, reason: str) -> None:
        kept.append((event, target, reason))

    b = RedisStreamsBus(redis_url, prefix=f"t{secrets.token_hex(4)}:", overflow_sink=sink)
    async with b:
        sub = await b.subscribe("g")
        tricky = [
            Event.create("ping", {"i": i, "s": "é\n 7 \u2028" * i, "e": "🙂"}, source_node="t")
            for i in range(1200)  # more than one XADD script call
        ]
        ids_ = await b.publish_many(tricky)
        key = b.key("events")
        await b.redis.xadd(key, {"x": b"no event field"})
        await b.redis.xadd(key, {"e": b"3 4\nnot an event \xff"})
        got = []
        while len(got) < len(tricky):
            batch = await sub.get(500, timeout=0.5)  # waiting entries: the script path
            assert batch
            got += batch
        assert [m.id for m in got] == ids_ and len(set(ids_)) == len(ids_)
        assert [m.event for m in got] == tricky
        await sub.ack(*got)
        assert await sub.get(10, timeout=0.2) == []  # the two foreign entries, acked
        late = asyncio.create_task(sub.get(10, timeout=2))  # nothing waiting: blocks in Redis
        async with asyncio.timeout(5):  # until Redis lists a client blocked in a read
            while not any("b" in c["flags"] for c in await b.redis.client_list()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await b.publish_many(tricky[:3])
        assert [m.event for m in await late] == tricky[:3]
        pending = await b.redis.xpending(key, "g")
    assert pending["pending"] == 3  # the last three, not acked; the foreign ones were
    [(event, target, reason)] = kept
    assert "not valid JSON" in reason
    assert target == "bus:g" and event.payload["raw"].startswith("3 4\nnot an event")
    assert b.stats()["events"]["trimmed"] == 1


async def test_survives_the_stream_being_deleted(bus: RedisStreamsBus) -> None:
    sub = await bus.subscribe("g")
    await bus.redis.delete(bus.key("events"))
    assert await sub.get(1, timeout=0.1) == []
    await bus.publish(ev(3))
    assert ids(await sub.get(1, timeout=0.5)) == [3]


async def test_unreachable_redis_is_a_clear_bus_error() -> None:
    b = RedisStreamsBus("redis://:secret@127.0.0.1:1/0")
    with pytest.raises(BusError, match=r"cannot connect.*CTAS7_BUS_URL") as info:
        await b.start()
    assert "secret" not in str(info.value)


async def test_drop_group(bus: RedisStreamsBus) -> None:
    await bus.subscribe("temp")
    await bus.drop_group("temp")
    client: aioredis.Redis = bus.redis
    groups = await client.xinfo_groups(bus.key("events"))
    assert [g["name"] for g in groups] == []


async def test_an_ephemeral_group_is_destroyed_on_close_and_forgotten(
    bus: RedisStreamsBus,
) -> None:
    sub = await bus.subscribe("gateway.h.1.1", topic="target.dashboard", ephemeral=True)
    key = bus.key("target.dashboard")
    assert await bus.redis.hkeys(bus.registry) == [f"{key}\ngateway.h.1.1".encode()]
    await sub.close()
    assert await bus.redis.xinfo_groups(key) == []
    assert await bus.redis.hkeys(bus.registry) == []


async def test_groups_of_a_killed_gateway_expire_and_a_live_one_stays(
    redis_url: str, tmp_path: object
) -> None:
    """A real ``ctas7 bridge`` with its gateway, killed with -9: its feed groups (ephemeral) stay
    in Redis until another process's bus finds their heartbeat older than ``group_expiry``; a
    live group on a quiet topic keeps its heartbeat and stays."""
    import os
    import signal
    import sys

    env = {
        **os.environ,
        "CTAS7_BUS_URL": redis_url,
        "CTAS7_STORE_URL": f"sqlite:///{tmp_path}/events.db",
        "CTAS7_LOG_LEVEL": "WARNING",
    }
    args = ["bridge", "--single-port", "0", "--metrics-interval", "0"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ctas7_panel", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        await proc.stdout.readline()
    async with RedisStreamsBus(redis_url, group_expiry=1.5) as janitor:
        live = await janitor.subscribe("gateway.live", topic="target.dashboard", ephemeral=True)
        registered = {k.decode() for k in await janitor.redis.hkeys(janitor.registry)}
        assert len(registered) == 5  # the killed gateway's 4 feeds and ours
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        async with asyncio.timeout(10):
            while len(await janitor.redis.hkeys(janitor.registry)) > 1:
                await asyncio.sleep(0.3)  # quiet: a live group needs no traffic to stay
                await janitor.expire_groups()  # our heartbeat, their expiry
        remaining = {k.decode() for k in await janitor.redis.hkeys(janitor.registry)}
        groups = {
            g["name"].decode()
            for topic in ("events", "target.dashboard", "target.legion", "target.neural_mux")
            for g in await janitor.redis.xinfo_groups(janitor.key(topic))
        }
        await live.close()
        gone = await janitor.redis.hkeys(janitor.registry)
    assert remaining == {f"{janitor.key('target.dashboard')}\ngateway.live"}
    # the killed gateway's four feed groups are gone (its bridge's shared group stays)
    assert {g for g in groups if g.startswith("gateway.")} == {"gateway.live"}
    assert gone == []  # and ours went at close
