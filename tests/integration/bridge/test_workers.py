"""``ctas7 bridge`` processes on a real Redis: kill -9 recovery, shared work, SIGTERM drain."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from ctas7_panel import events as ev
from ctas7_panel.streams.redis_bus import RedisStreamsBus

from .conftest import Receiver, wait_until

pytestmark = pytest.mark.redis
CTAS7 = [sys.executable, "-m", "ctas7_panel"]


async def start_worker(name: str, env: dict[str, str], *extra: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        *CTAS7,
        "bridge",
        "--no-gateway",
        "--consumer",
        name,
        "--claim-idle",
        "1",
        "--metrics-interval",
        "0",
        *extra,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = await proc.stdout.readline()
    assert orjson.loads(line)["ready"], line
    return proc


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CTAS7_BUS_URL": redis_url,
        "CTAS7_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "CTAS7_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
async def black_hole() -> AsyncIterator[str]:
    """A websocket server that takes frames and never acks them."""

    async def swallow(conn: ServerConnection) -> None:
        async for _ in conn:
            pass

    async with serve(swallow, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/legion"


async def pending(bus: RedisStreamsBus) -> int:
    info = await bus.redis.xpending(bus.key("events"), "bridge")
    return int(info["pending"])


async def test_kill_9_worker_pending_events_are_delivered_by_a_sibling(
    env: dict[str, str], redis_url: str, black_hole: str, receiver: Receiver
) -> None:
    async with RedisStreamsBus(redis_url) as bus:
        doomed = await start_worker("doomed", env, "--forward", f"legion={black_hole}")
        sent = [
            ev.task_executed(task_id=f"t{i}", name="n", status="ok", duration_ms=1.0)
            for i in range(200)
        ]
        await bus.publish_many(sent)
        async with asyncio.timeout(20):
            while await pending(bus) < 200:  # noqa: ASYNC110 - read by the doomed worker, unacked
                await asyncio.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        assert await doomed.wait() == -signal.SIGKILL
        assert await pending(bus) == 200

        sibling = await start_worker("sibling", env, "--forward", f"legion={receiver.url}")
        try:
            await wait_until(lambda: len(receiver.applied) == 200, timeout=30)
            async with asyncio.timeout(10):
                while await pending(bus) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            mux = await bus.subscribe("check", topic="target.neural_mux", start="earliest")
            seen: list[str] = []
            while batch := await mux.get(500, timeout=0.5):
                seen += [m.event.event_id for m in batch]
        finally:
            sibling.send_signal(signal.SIGTERM)
            assert await sibling.wait() == 0
    assert set(receiver.applied) == {e.event_id for e in sent}
    # neural_mux got everything; what the doomed worker had already published shows up
    # twice on the stream and is dropped by the consumers' de-duplication by event_id.
    assert set(seen) == {e.event_id for e in sent}


async def test_two_workers_share_the_work_each_event_once(
    env: dict[str, str], redis_url: str
) -> None:
    async with RedisStreamsBus(redis_url) as bus:
        workers = [await start_worker(f"w{i}", env) for i in range(2)]
        try:
            sent = [ev.qa5_validation(status="passed", n=i) for i in range(1000)]
            for k in range(0, 1000, 100):
                await bus.publish_many(sent[k : k + 100])
            legion = await bus.subscribe("legion", topic="target.legion", start="earliest")
            got: list[str] = []
            async with asyncio.timeout(30):
                while len(got) < 1000:
                    batch = await legion.get(500, timeout=0.5)
                    got += [m.event.event_id for m in batch]
                    await legion.ack(*batch)
            assert await legion.get(10, timeout=0.5) == []
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            codes = [await w.wait() for w in workers]
        consumers = await bus.redis.xinfo_consumers(bus.key("events"), "bridge")
    assert codes == [0, 0]
    assert sorted(got) == sorted(e.event_id for e in sent)  # each exactly once
    assert {c["name"] for c in consumers} >= {b"w0", b"w1"}


async def test_sigterm_drains_in_flight_retries_then_exits_0(
    env: dict[str, str], redis_url: str, receiver: Receiver
) -> None:
    async with RedisStreamsBus(redis_url) as bus:
        port = receiver.port
        await receiver.stop()
        # legion is down when the events arrive: its port closes every connection at once, and
        # counts them (each is a delivery attempt)
        attempts = 0

        def refuse(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal attempts
            attempts += 1
            writer.close()

        down = await asyncio.start_server(refuse, "127.0.0.1", port)
        worker = await start_worker(
            "draining",
            env,
            "--forward",
            f"legion={receiver.url}",
            "--drain-timeout",
            "20",
            "--retry-max-delay",
            "0.2",
            "--retry-max-attempts",
            "1000",
        )
        sent = [
            ev.task_executed(task_id=f"t{i}", name="n", status="ok", duration_ms=1.0)
            for i in range(20)
        ]
        await bus.publish_many(sent)
        async with asyncio.timeout(20):
            while await pending(bus) < 20:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        seen = attempts
        await wait_until(lambda: attempts >= seen + 3, timeout=10)  # still trying: draining
        assert worker.returncode is None
        down.close()
        await down.wait_closed()
        receiver.port = port
        await receiver.start()
        async with asyncio.timeout(30):
            assert await worker.wait() == 0
        assert await pending(bus) == 0
    assert set(receiver.applied) == {e.event_id for e in sent}
