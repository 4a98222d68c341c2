"""Fixtures for the Schema Sync Node on real PostgreSQL: a database with the CTAS-7 schema,
artifact paths in a temp dir, a node that records what it emits, a watcher running in a task."""

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
from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig


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
