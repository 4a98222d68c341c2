"""Fixtures for the Schema Sync Node on real PostgreSQL: a database with the CTAS-7 schema,
artifact paths in a temp dir, a node that records what it emits, a watcher running in a task,
the passes a node runs (a pass that finds nothing emits nothing), and waits on conditions (a
test waits for what it needs to see, never a fixed time)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ctas7_panel import pgtools
from ctas7_panel.events import Event
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.schema.sync import Failure, SchemaSyncNode, SyncConfig
from tests.waiting import wait_until


@pytest.fixture
def core_db_url(fresh_db_url: str) -> str:
    """A fresh database holding the bundled CTAS-7 demo schema (7 tables)."""
    apply_migrations(fresh_db_url)
    return fresh_db_url


@dataclass
class Recorder:
    """Collects every event a node emits; ``wait_for`` polls it with a deadline."""

    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, *types: str) -> list[Event]:
        return [e for e in self.events if e.event_type in types]

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        *,
        timeout: float = 10.0,
        after: int = 0,
    ) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events[after:]:
                if predicate(e):
                    return e
            if time.monotonic() > deadline:
                seen = [(e.event_type, e.payload.get("trigger")) for e in self.events]
                raise AssertionError(f"no matching event within {timeout} s; saw {seen}")
            await asyncio.sleep(0.02)


@pytest.fixture
def until() -> Callable[..., Any]:
    return wait_until


@dataclass(frozen=True)
class Pass:
    trigger: str
    started: float  # time.monotonic()
    result: Event | Failure


@dataclass
class Passes:
    """The passes one node ran, each recorded when it returns (before the watcher emits it)."""

    done: list[Pass] = field(default_factory=list)

    async def wait_for(
        self, predicate: Callable[[Pass], bool], *, count: int = 1, timeout: float = 10.0
    ) -> list[Pass]:
        deadline = time.monotonic() + timeout
        while True:
            hits = [p for p in self.done if predicate(p)]
            if len(hits) >= count:
                return hits
            if time.monotonic() > deadline:
                seen = [(p.trigger, type(p.result).__name__) for p in self.done]
                raise AssertionError(f"{len(hits)} of {count} passes within {timeout} s; {seen}")
            await asyncio.sleep(0.02)


@pytest.fixture
def passes() -> Callable[[SchemaSyncNode], Passes]:
    """``passes(node)``: from now on, every pass of ``node`` is also recorded (the real pass
    runs; this only watches it return)."""

    def observe(node: SchemaSyncNode) -> Passes:
        real = node.run_pass
        seen = Passes()

        async def run_pass(trigger: Any) -> Event | Failure:
            started = time.monotonic()
            result = await real(trigger)
            seen.done.append(Pass(str(trigger), started, result))
            return result

        node.run_pass = run_pass  # type: ignore[method-assign]
        return seen

    return observe


def lock_tries(url: str) -> set[tuple[int, Any]]:
    """(backend pid, query start) of every session of ``url``'s database whose last statement
    tried the watchers' advisory lock: a standby watcher's next try starts a new one."""
    with pgtools.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid, query_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND query LIKE '%pg_try_advisory_lock%'"
        ).fetchall()
    return {(int(pid), start) for pid, start in rows}


def wait_for_lock_tries(url: str, count: int, *, timeout: float = 20.0) -> None:
    """Block until standby watchers of ``url``'s database have tried the lock ``count`` more
    times (seen in ``pg_stat_activity``, sampled every 20 ms; tries are a poll interval apart)."""
    before = lock_tries(url)
    new: set[tuple[int, Any]] = set()
    deadline = time.monotonic() + timeout
    while len(new) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(new)} of {count} lock tries within {timeout} s")
        time.sleep(0.02)
        new |= lock_tries(url) - before


@dataclass
class Paths:
    root: Path

    @property
    def types(self) -> Path:
        return self.root / "database" / "supabase_schema.ts"

    @property
    def cache(self) -> Path:
        return self.root / ".last_schema_hash"

    @property
    def snapshot(self) -> Path:
        return self.root / ".last_schema_hash.snapshot.json"

    def config(self, url: str, **kw: Any) -> SyncConfig:
        return SyncConfig(
            db_url=url, schema_path=str(self.types), hash_cache_path=str(self.cache), **kw
        )


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def new_recorder() -> Callable[[], Recorder]:
    """A factory, for tests that run several nodes."""
    return Recorder


@contextlib.asynccontextmanager
async def running_watch(node: SchemaSyncNode) -> AsyncIterator[asyncio.Event]:
    """Run ``node.watch`` in a task for the block; stop it (cooperatively) afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(node.watch(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


@pytest.fixture
def watch_running() -> Callable[[SchemaSyncNode], contextlib.AbstractAsyncContextManager[Any]]:
    return running_watch


def run_sql(url: str, *statements: str) -> None:
    """Each statement in its own transaction (autocommit)."""
    with pgtools.connect(url) as conn:
        for s in statements:
            conn.execute(s.encode())


@pytest.fixture
def sql() -> Iterator[Callable[..., None]]:
    yield run_sql
