"""Nothing lost under crashes and a store outage: real ``ctas7 bridge`` processes on real Redis.

- ``test_kill_9_while_the_store_is_locked_loses_nothing``: issue 12's first finding. Before, the
  bridge acked what it had only queued for the store: 1,000 events delivered and acked with the
  table locked, then ``kill -9`` and a restart: 0 of 1,000 in the history.
- ``test_chaos``: 2 workers, 20,000 events at a steady 2,000/s, 5 ``kill -9`` at random moments
  (each worker restarted at once, under a new consumer name), one 10 s store outage (a lock
  held by another connection), on the PostgreSQL store and on SQLite: every event exactly once in
  the history, every target got every event (duplicates only on the target topics, whose readers
  de-duplicate by ``event_id``), nothing left pending, the dead workers' consumers removed.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from ctas7_panel import events as ev
from ctas7_panel.errors import StoreError
from ctas7_panel.store import open_store
from ctas7_panel.streams.redis_bus import RedisStreamsBus

from .conftest import StoreOutage, wait_until
from .test_workers import start_worker

pytestmark = pytest.mark.redis
NAMES = ("legion", "dashboard", "neural_mux")


def worker_env(redis_url: str, store_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CTAS7_BUS_URL": redis_url,
        "CTAS7_STORE_URL": store_url,
        "CTAS7_LOG_LEVEL": "WARNING",
    }


async def pending(bus: RedisStreamsBus) -> int:
    return int((await bus.redis.xpending(bus.key("events"), "bridge"))["pending"])


async def consumers(bus: RedisStreamsBus) -> set[str]:
    rows = await bus.redis.xinfo_consumers(bus.key("events"), "bridge")
    return {r["name"].decode() for r in rows}


def stored_count(url: str) -> int:
    """The history's size, or -1 while the store is locked."""
    try:
        with open_store(url) as store:
            return store.count()
    except StoreError:
        return -1


async def test_kill_9_while_the_store_is_locked_loses_nothing(
    redis_url: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    open_store(url).close()  # the tables exist before the lock is taken
    env = worker_env(redis_url, url)
    async with RedisStreamsBus(redis_url) as bus:
        check = await bus.subscribe("check", topic="target.dashboard")
        doomed = await start_worker("doomed", env)
        sent = [ev.qa5_validation(status="passed", i=i) for i in range(1000)]
        with StoreOutage(url):
            await bus.publish_many(sent)
            delivered: set[str] = set()
            async with asyncio.timeout(30):
                while len(delivered) < 1000:
                    batch = await check.get(1000, timeout=0.5)
                    delivered |= {m.event.event_id for m in batch}
                    await check.ack(*batch)
            assert await pending(bus) == 1000  # delivered, but not durable: not acked
            doomed.send_signal(signal.SIGKILL)
            assert await doomed.wait() == -signal.SIGKILL
        assert await asyncio.to_thread(stored_count, url) == 0
        sibling = await start_worker("sibling", env)
        try:
            await wait_until(lambda: stored_count(url) == 1000, timeout=60)
            async with asyncio.timeout(30):
                while await pending(bus) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            async with asyncio.timeout(30):  # doomed's consumer: nothing pending, idle > 5 s
                while await consumers(bus) != {"sibling"}:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        finally:
            sibling.send_signal(signal.SIGTERM)
            assert await sibling.wait() == 0
    with open_store(url) as store:
        assert {e.event_id for _, e in store.fetch()} == {e.event_id for e in sent}


N_EVENTS = 20_000
RATE = 2_000.0  # events per second, steady
KILLS = 5
OUTAGE_S = 10.0


@pytest.mark.slow  # ~35 s each (the figures: 20,000 events, a 10 s outage)
async def test_chaos(redis_url: str, store_url: str) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kind = store_url.split(":", 1)[0]
    open_store(store_url).close()
    env = worker_env(redis_url, store_url)
    sent = [ev.qa5_validation(status="passed", i=i) for i in range(N_EVENTS)]
    produce_s = N_EVENTS / RATE
    kill_at = sorted(rng.uniform(0.5, produce_s) for _ in range(KILLS))
    outage_at = rng.uniform(0.5, produce_s / 2)
    started = time.monotonic()
    async with RedisStreamsBus(redis_url) as bus:
        checks = {n: await bus.subscribe("check", topic=f"target.{n}") for n in NAMES}
        got: dict[str, Counter[str]] = {n: Counter() for n in NAMES}
        workers = list(await asyncio.gather(*(start_worker(f"w{i}.0", env) for i in range(2))))
        generation = [0, 0]
        killed: list[str] = []
        produced: list[float] = []

        async def read(name: str) -> None:
            sub = checks[name]
            while True:
                batch = await sub.get(2000, timeout=0.2)
                got[name].update(m.event.event_id for m in batch)
                if batch:
                    await sub.ack(*batch)

        async def produce() -> None:
            t0, i = time.monotonic(), 0
            while i < N_EVENTS:
                due = min(N_EVENTS, int((time.monotonic() - t0) * RATE) + 1)
                if due > i:
                    await bus.publish_many(sent[i:due])
                    i = due
                await asyncio.sleep(0.01)
            produced.append(time.monotonic() - t0)

        async def restart(k: int) -> None:
            workers[k] = await start_worker(f"w{k}.{generation[k]}", env)

        async def kill() -> None:
            t0 = time.monotonic()
            restarting: dict[int, asyncio.Task[None]] = {}
            for at in kill_at:
                await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
                up = [k for k in range(2) if k not in restarting or restarting[k].done()]
                if not up:  # both are starting: kill the first to be up
                    await asyncio.wait(restarting.values(), return_when=asyncio.FIRST_COMPLETED)
                    up = [k for k in range(2) if restarting[k].done()]
                k = rng.choice(up)
                workers[k].send_signal(signal.SIGKILL)
                await workers[k].wait()
                killed.append(f"w{k}.{generation[k]}")
                generation[k] += 1
                restarting[k] = asyncio.create_task(restart(k))  # the other one works on
            await asyncio.gather(*restarting.values())

        async def outage() -> None:
            await asyncio.sleep(outage_at)
            lock = StoreOutage(store_url)
            await asyncio.to_thread(lock.start)
            await asyncio.sleep(OUTAGE_S)
            await asyncio.to_thread(lock.stop)

        readers = [asyncio.create_task(read(n)) for n in NAMES]
        try:
            await asyncio.gather(produce(), kill(), outage())

            async def complete() -> bool:
                return (
                    all(len(got[n]) == N_EVENTS for n in NAMES)
                    and await pending(bus) == 0
                    and await asyncio.to_thread(stored_count, store_url) == N_EVENTS
                )

            async with asyncio.timeout(90):
                while not await complete():  # noqa: ASYNC110 - polling other processes
                    await asyncio.sleep(0.5)
            live = {f"w{k}.{generation[k]}" for k in range(2)}
            async with asyncio.timeout(30):  # dead workers' consumers: claimed, then removed
                while await consumers(bus) != live:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        finally:
            for task in readers:
                task.cancel()
            for proc in workers:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            codes = [await proc.wait() for proc in workers]
        left = await pending(bus)
    with open_store(store_url) as store:
        history = [e.event_id for _, e in store.fetch()]
    want = {e.event_id for e in sent}
    dups = {n: sum(got[n].values()) - len(got[n]) for n in NAMES}
    print(
        f"\nchaos on {kind} (seed {seed}): sent {N_EVENTS:,} at {RATE:,.0f}/s in "
        f"{produced[0]:.1f} s; "
        f"{KILLS} kill -9 at {', '.join(f'{t:.1f}' for t in kill_at)} s ({', '.join(killed)}); "
        f"store locked {OUTAGE_S:.0f} s from {outage_at:.1f} s; history {len(history):,} "
        f"({len(set(history)):,} distinct); "
        + "; ".join(f"{n} {len(got[n]):,} (+{dups[n]:,} duplicates)" for n in NAMES)
        + f"; pending {left}; total {time.monotonic() - started:.1f} s"
    )
    assert codes == [0, 0]
    assert len(killed) == KILLS
    assert len(history) == len(set(history)) == N_EVENTS and set(history) == want
    assert all(set(got[n]) == want for n in NAMES)
    assert left == 0
