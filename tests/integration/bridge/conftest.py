"""Helpers for the bridge's integration tests: real stores (and their outages), test targets, a
receiver."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from ctas7_panel.bridge.targets import TargetBase
from ctas7_panel.errors import DeliveryError
from ctas7_panel.events import Event
from ctas7_panel.store import EventStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    yield s
    s.close()


class FlakyTarget(TargetBase):
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


class StoreOutage:
    """The store stops taking writes while this holds a lock from another connection: SQLite
    ``BEGIN EXCLUSIVE``, PostgreSQL ``LOCK TABLE ctas7_events IN ACCESS EXCLUSIVE MODE``.
    ``start()`` / ``stop()``, or ``with``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None

    def start(self) -> StoreOutage:
        if self.url.startswith("sqlite:///"):
            conn = sqlite3.connect(self.url[len("sqlite:///") :], isolation_level=None, timeout=10)
            conn.execute("BEGIN EXCLUSIVE")
        else:
            conn = psycopg.connect(self.url, autocommit=False)
            conn.execute("LOCK TABLE ctas7_events IN ACCESS EXCLUSIVE MODE")
        self._conn = conn
        return self

    def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.rollback()
            conn.close()

    def __enter__(self) -> StoreOutage:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("fresh_db_url"))
