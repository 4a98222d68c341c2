"""Helpers for the bridge's integration tests: a real SQLite store, test targets, a receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from ctas7_panel.errors import DeliveryError
from ctas7_panel.events import Event
from ctas7_panel.store import EventStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    yield s
    s.close()


class FlakyTarget:
    """Fails the first ``failures`` attempts of every event (or all while ``down``)."""

    def __init__(self, name: str, failures: int = 0) -> None:
        self.name = name
        self.failures = failures
        self.down = False
        self.attempts: dict[str, int] = {}
        self.applied: list[Event] = []

    async def deliver(self, event: Event) -> None:
        n = self.attempts[event.event_id] = self.attempts.get(event.event_id, 0) + 1
        if self.down or n <= self.failures:
            raise DeliveryError(f"{self.name} refused attempt {n}")
        self.applied.append(event)


class Receiver:
    """A remote system on a real websocket: acks each event, applies each event_id once."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.applied: dict[str, Event] = {}
        self.received = 0
        self.duplicates = 0
        self._server: Server | None = None

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", self.port)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/legion"

    async def _handle(self, conn: ServerConnection) -> None:
        async for frame in conn:
            event = Event.from_dict(orjson.loads(frame))
            self.received += 1
            if event.event_id in self.applied:
                self.duplicates += 1
            else:
                self.applied[event.event_id] = event
            await conn.send(orjson.dumps({"ack": event.event_id}).decode())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polls state owned by other tasks
            await asyncio.sleep(0.01)
