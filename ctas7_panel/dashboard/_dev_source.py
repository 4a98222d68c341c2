"""The dashboard's development runtime (``CTAS7_DEV_INGEST_PORT``): build and browser-test the
dashboard without a database.

A light alternative to ``ctas7_panel.runtime.get_runtime(settings)`` (the full one-process
runtime: embedded Postgres, schema watcher, bridge, Legion, Neural Mux, demo activity).
``DevRuntime`` offers what the dashboard needs from a runtime: ``bus``, ``store``,
``database_url``, ``start()``, ``close()``, ``replay_dead_letters()``. Its store, bus and bridge
are assembled by the composition root (``build_services`` with ``Parts.bridge_only``): a real
``MemoryBus``, the configured store and the real ``TelemetryBridge`` (routing, transforms,
delivery to ``target.*``, ``bridge_metrics``); only the traffic is synthetic:

- a demo activity source publishing a realistic mix (Legion tasks, Playwright results, schema
  checks and an occasional schema change with its diff, QA5 validations) at ``rate`` events/s;
- with ``ingest_port``, a websocket on 127.0.0.1 taking one event envelope (JSON) per text
  frame, answering ``{"ack": id}`` or ``{"error": ...}`` (what browser tests and the benchmark
  use to send events "to the bridge").
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from ctas7_panel import events as ev
from ctas7_panel.errors import Ctas7Error, EventError
from ctas7_panel.events import Event
from ctas7_panel.lifecycle import cancel_and_wait
from ctas7_panel.settings import Settings

if TYPE_CHECKING:
    from websockets.asyncio.server import Server

    from ctas7_panel.bridge.bridge import TelemetryBridge
    from ctas7_panel.store import EventStore
    from ctas7_panel.streams.bus import Bus

log = logging.getLogger(__name__)

TABLES = {
    "nodes": 9,
    "crates": 7,
    "tasks": 11,
    "task_runs": 8,
    "slot_graph": 6,
    "telemetry": 7,
    "qa_results": 6,
}
TASKS = ("sync_slot_graph", "index_crates", "score_nodes", "compact_runs", "refresh_kpis")
TESTS = (
    "tests/e2e/test_console.py::test_login",
    "tests/e2e/test_console.py::test_schema_badge",
    "tests/e2e/test_graph.py::test_slot_graph_renders",
    "tests/e2e/test_graph.py::test_filter_nodes",
    "tests/e2e/test_tasks.py::test_run_task",
)


def demo_hash(version: int) -> str:
    return hashlib.sha256(f"ctas7-demo-schema-{version}".encode()).hexdigest()


def demo_events(rng: random.Random, n: int, state: dict[str, Any]) -> list[Event]:
    """The next ``n`` synthetic events (pure given ``rng`` and ``state``)."""
    out: list[Event] = []
    for _ in range(n):
        state["i"] = i = state.get("i", 0) + 1
        version = state.setdefault("version", 1)
        tables = state.setdefault("tables", dict(TABLES))
        roll = rng.random()
        if i % 200 == 0:
            state["version"] = version + 1
            table = rng.choice(sorted(tables))
            tables[table] += 1
            out.append(
                ev.schema_updated(
                    new_hash=demo_hash(version + 1),
                    old_hash=demo_hash(version),
                    schema_path="./database/supabase_schema.ts",
                    table_count=len(tables),
                    tables=[{"name": t, "column_count": c} for t, c in sorted(tables.items())],
                    diff={"text": f"+ column {table}.extra_{tables[table]} (text, nullable)"},
                )
            )
            out.append(
                ev.legion_schema_telemetry(
                    old_hash=demo_hash(version),
                    new_hash=demo_hash(version + 1),
                    reload_ms=round(rng.uniform(40, 220), 1),
                    affected_tasks=list(TASKS[:2]),
                )
            )
        elif i % 40 == 0:
            out.append(
                ev.schema_nochange(
                    current_hash=demo_hash(version),
                    schema_path="./database/supabase_schema.ts",
                    table_count=len(tables),
                )
            )
        elif roll < 0.45:
            ok = rng.random() < 0.97
            out.append(
                ev.task_executed(
                    task_id=f"task-{i}",
                    name=rng.choice(TASKS),
                    status="success" if ok else "failed",
                    duration_ms=round(rng.lognormvariate(3.5, 0.6), 1),
                    rows=rng.randint(0, 5000),
                    schema_hash=demo_hash(version),
                )
            )
        elif roll < 0.9:
            r = rng.random()
            outcome = "passed" if r < 0.86 else "failed" if r < 0.94 else "skipped"
            extra = {"message": "AssertionError: badge not visible"} if outcome == "failed" else {}
            out.append(
                ev.playwright_test_completed(
                    nodeid=rng.choice(TESTS),
                    outcome=outcome,
                    duration_ms=round(rng.lognormvariate(6.2, 0.5), 1),
                    browser="chromium",
                    **extra,
                )
            )
        else:
            out.append(ev.qa5_validation(status="valid" if rng.random() < 0.9 else "invalid"))
    return out


class DevRuntime:
    """See the module docstring. An async service: ``start()`` / ``close()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        rate: float = 4.0,
        ingest_port: int | None = None,
        seed: int | None = None,
    ) -> None:
        from ctas7_panel.runtime import Parts, build_services

        self.settings = settings
        self.services = build_services(
            settings.replace(bus_url="memory://"),
            Parts.bridge_only(gateway=False, metrics_interval=2.0, bus_capacity=20_000),
        )
        self.database_url = settings.database_url
        self.rate = rate
        self.ingest_port = ingest_port
        self.rng = random.Random(seed)
        self.replay_dead_letters: Callable[[], Awaitable[int]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._server: Server | None = None
        self._state: dict[str, Any] = {}

    @property
    def bus(self) -> Bus:
        bus, _ = self.services.running()
        return bus

    @property
    def store(self) -> EventStore:
        _, store = self.services.running()
        return store

    @property
    def bridge(self) -> TelemetryBridge | None:
        return self.services.bridge

    async def start(self) -> None:
        if self._tasks or self._server is not None:
            return
        await self.services.start()
        assert self.services.bridge is not None
        self.replay_dead_letters = self.services.bridge.replay_dead_letters
        version = self._state.setdefault("version", 1)
        tables = self._state.setdefault("tables", dict(TABLES))
        await self.bus.publish(
            ev.schema_nochange(
                current_hash=demo_hash(version),
                schema_path=self.settings.schema_path,
                table_count=len(tables),
                tables=[{"name": t, "column_count": c} for t, c in sorted(tables.items())],
            )
        )
        if self.rate > 0:
            self._tasks.append(asyncio.create_task(self._demo(), name="ctas7-dev-demo"))
        if self.ingest_port is not None:
            from websockets.asyncio.server import serve

            self._server = await serve(self._ingest, "127.0.0.1", self.ingest_port)

    async def _demo(self) -> None:
        period = 1.0 / self.rate
        while True:
            for e in demo_events(self.rng, 1, self._state):
                await self.bus.publish(e)
            await asyncio.sleep(period * self.rng.uniform(0.5, 1.5))

    async def _ingest(self, conn: Any) -> None:
        async for frame in conn:
            try:
                event = Event.from_json(frame, max_bytes=self.settings.max_event_bytes)
            except EventError as exc:
                await conn.send(orjson.dumps({"error": str(exc), "field": exc.field}).decode())
                continue
            try:
                await self.bus.publish(event)
            except Ctas7Error as exc:
                await conn.send(orjson.dumps({"error": str(exc)}).decode())
                continue
            await conn.send(orjson.dumps({"ack": event.event_id}).decode())

    async def close(self) -> None:
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.services.close()


def get_runtime(
    settings: Settings, *, ingest_port: int | None = None, rate: float = 4.0
) -> DevRuntime:
    return DevRuntime(settings, ingest_port=ingest_port, rate=rate)
