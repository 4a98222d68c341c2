"""``LegionExecutionEngine``: runs tasks against the database under the current schema, and hot-
reloads that schema without dropping running tasks.

Lifecycle: ``await engine.start()`` (or ``async with engine``) loads the schema snapshot into the
typed table registry (with no snapshot file yet: the schema read from the database itself, with
the fingerprint the Schema Sync Node would write), opens the ``DatabaseMux`` pool, subscribes to
bus topic ``target.legion`` (group ``legion``) when a bus is given, and watches the schema
artifacts on disk when ``watch`` is on. ``await engine.close()`` stops consuming and watching,
gives running tasks ``drain_s`` to finish, cancels the rest and closes the pool.

A reload (``reload_database_connections``; triggered by a ``schema_updated`` event, in either
its raw or its "For Legion" form, or by the artifacts changing on disk) builds the new registry,
opens a new pool, swaps both in, and moves every running task's context to the new hash; a task
whose table or column disappeared fails at its next step with a ``SchemaError`` naming it. The
old pool closes in the background: connections still in use close when their task returns them.
Then listeners are notified and ``legion_schema_telemetry`` (old/new hash, ``reload_ms``,
``affected_tasks``, ``failed_tasks``) is published to topic ``events``. Every task publishes
``task_executed`` (task id, name, status, duration_ms, rows, schema_hash).

Reloads are serialised (one lock); an event already handled (same ``event_id``, as at-least-once
delivery may repeat) or naming the hash already loaded does not reload again. Events that cannot
be published (bus down) wait in a bounded outbox and go out with the next publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctas7_panel import events as ev
from ctas7_panel.errors import ConfigError, Ctas7Error, EventError, SchemaError, UsageError
from ctas7_panel.events import Event
from ctas7_panel.legion.dbmux import DatabaseMux, PoolGone
from ctas7_panel.legion.loader import SnapshotLoader
from ctas7_panel.legion.outbox import Outbox
from ctas7_panel.legion.query import Query
from ctas7_panel.legion.registry import (
    Dependency,
    TableRegistry,
)
from ctas7_panel.legion.reload import affected_by, node_capabilities, reload_request
from ctas7_panel.legion.tasks import (
    CallableSpec,
    Task,
    TaskContext,
    TaskFunction,
    TaskResult,
    dependencies,
)
from ctas7_panel.legion.watch import artifact_hash, watch_artifacts
from ctas7_panel.lifecycle import AsyncService, cancel_and_wait
from ctas7_panel.schema.artifacts import default_snapshot_path
from ctas7_panel.settings import Settings
from ctas7_panel.streams.bus import DEFAULT_TOPIC
from ctas7_panel.streams.dedup import SeenIds
from ctas7_panel.targetspec import LEGION, target_topic

log = logging.getLogger(__name__)

LEGION_TOPIC = target_topic(LEGION)
LEGION_GROUP = "legion"
EVENTS_TOPIC = DEFAULT_TOPIC  # where producers publish raw events
SchemaListener = Callable[[Event], Any]  # sync or async; its errors are logged, never raised


@dataclass(frozen=True, slots=True)
class ReloadReport:
    """What one reload did (also the payload of ``legion_schema_telemetry``)."""

    old_hash: str | None
    new_hash: str | None
    reload_ms: float
    affected_tasks: tuple[str, ...]
    failed_tasks: tuple[str, ...]
    table_count: int
    column_count: int
    changed_tables: int
    trigger: str
    pool: str  # "recreated" | "kept: <why>"
    skipped: bool = False


class LegionExecutionEngine(AsyncService):
    """See the module docstring. Construct with ``LegionExecutionEngine(database_url=...)``."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        bus: Any = None,
        snapshot_path: str | Path | None = None,
        hash_cache_path: str | Path | None = None,
        schema_path: str | Path | None = None,
        watch: bool = True,
        consume: bool = True,
        node_id: str = "legion",
        pool_min_size: int = 1,
        pool_max_size: int = 8,
        db_timeout: float = 10.0,
        drain_s: float = 5.0,
        watch_debounce_ms: int = 50,
        outbox_size: int = 10_000,
    ) -> None:
        s = settings or Settings()
        url = database_url or s.database_url
        if not url:
            raise ConfigError(
                "legion needs a database: pass database_url=... or set CTAS7_DATABASE_URL"
            )
        self.database_url = url
        self.bus = bus
        self.hash_cache_path = Path(hash_cache_path or s.hash_cache_path)
        self.snapshot_path = Path(snapshot_path or default_snapshot_path(self.hash_cache_path))
        self.schema_path = Path(schema_path or s.schema_path)
        self.node_id = node_id
        self._watch_enabled = watch
        self._consume_enabled = consume
        self._pool_sizes = (pool_min_size, pool_max_size)
        self._db_timeout = db_timeout
        self._drain_s = drain_s
        self._debounce_ms = watch_debounce_ms

        self._registry = TableRegistry.empty()
        self._mux: DatabaseMux | None = None
        self._callables: dict[str, CallableSpec] = {}
        self._listeners: list[SchemaListener] = []
        self._running: dict[str, TaskContext] = {}
        self._task_handles: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._reload_lock = asyncio.Lock()
        self._seen = SeenIds(capacity=10_000, ttl=math.inf)  # schema events already handled
        self._outbox = Outbox(outbox_size)
        self._capabilities: dict[str, Any] = {}
        self._loader = SnapshotLoader(url, self.snapshot_path, self.hash_cache_path, db_timeout)
        self._last_update: float | None = None
        self._last_report: ReloadReport | None = None
        # task name -> what its registered queries touch: the task manifest (graph.tasks)
        self._task_deps: dict[str, set[Dependency]] = {}
        self._manifest_dirty = False
        self._stop = asyncio.Event()
        self._watch_ready = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._started = False

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the snapshot (if any), open the pool, start consuming and watching."""
        if self._started:
            return
        self._stop.clear()
        self._registry = await asyncio.to_thread(self._load_registry, None)
        self._mux = await self._open_mux(self._registry)
        self._capabilities = node_capabilities(
            self.node_id, self._registry, self._callables.values()
        )
        self._last_update = time.time() if len(self._registry) else None
        self._started = True
        await self._write_manifest()
        if self.bus is not None and self._consume_enabled:
            sub = await self.bus.subscribe(
                LEGION_GROUP, topic=LEGION_TOPIC, consumer=f"{self.node_id}-consumer"
            )
            self._consumer = asyncio.create_task(self._consume(sub), name="legion-consumer")
        if self._watch_enabled:
            self._watcher = asyncio.create_task(self._watch(), name="legion-watcher")
            await self._watch_ready.wait()

    async def close(self) -> None:
        """Stop consuming and watching; let running tasks finish (``drain_s``); close the pool."""
        if not self._started:
            return
        self._started = False
        self._stop.set()
        await cancel_and_wait(self._consumer, self._watcher)
        self._consumer = self._watcher = None
        self._watch_ready.clear()
        if self._task_handles:
            _, pending = await asyncio.wait(set(self._task_handles), timeout=self._drain_s)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        for t in list(self._background):
            with contextlib.suppress(Exception):
                await t
        if self._mux is not None:
            await self._mux.close()
            self._mux = None

    # --- the seed's API ------------------------------------------------------------------------

    async def handle_schema_update_event(
        self, event: Event | Mapping[str, Any] | str | bytes
    ) -> ReloadReport | None:
        """Reload on ``schema_updated`` (raw or "For Legion" payload); notify listeners.

        ``event`` is an ``Event`` or its JSON form: the decoded dict or the JSON text, as a port
        of the seed passes it (a missing ``event_id``, ``timestamp`` or ``source_node`` is
        filled in). Returns the reload's report, or None when nothing was reloaded. An event id
        seen before is ignored (at-least-once delivery). A malformed event or payload raises
        ``EventError`` naming the field.
        """
        event = as_event(event)
        if not self._first_time(event.event_id):
            return None
        report: ReloadReport | None = None
        request = reload_request(event)
        if request is not None and request.reload_required:
            snapshot = Path(request.snapshot_path) if request.snapshot_path else None
            report = await self.reload_database_connections(
                new_hash=request.new_hash,
                snapshot_path=snapshot,
                trigger="event",
                impact=request.impact,
            )
        if event.event_type in {"schema_updated", "schema_nochange"}:
            await self._notify(event)
        return report

    def add_schema_update_listener(self, fn: SchemaListener) -> None:
        self._listeners.append(fn)

    def remove_schema_update_listener(self, fn: SchemaListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(fn)

    def get_schema_status(self) -> dict[str, Any]:
        """``{"current_hash", "last_update", "listeners_count", "is_watching"}`` (the seed's)."""
        return {
            "current_hash": self._registry.schema_hash,
            "last_update": self._last_update,
            "listeners_count": len(self._listeners),
            "is_watching": self.is_watching,
        }

    @property
    def is_watching(self) -> bool:
        return self._watcher is not None and not self._watcher.done() and self._watch_ready.is_set()

    async def reload_database_connections(
        self,
        *,
        new_hash: str | None = None,
        snapshot_path: Path | None = None,
        trigger: str = "manual",
        force: bool = False,
        impact: Mapping[str, Any] | None = None,
    ) -> ReloadReport:
        """Re-create the pool, reload the table registry from the snapshot, refresh capabilities.

        Running tasks are kept and moved to the new schema. ``new_hash`` defaults to the hash
        cache on disk. ``impact`` (the ``schema_updated`` event's summary) narrows
        ``affected_tasks`` to the running tasks that use what changed or depends on it; a task
        that lost its schema is always affected. Raises ``ArtifactError``/``SchemaError`` when
        the snapshot is unusable; then nothing changes.
        """
        self._require_started()
        async with self._reload_lock:
            old = self._registry
            if not force and new_hash is not None and new_hash == old.schema_hash and len(old):
                return ReloadReport(
                    old.schema_hash, new_hash, 0.0, (), (), len(old), old.column_count, 0,
                    trigger, "kept: same hash", skipped=True,
                )  # fmt: skip
            t0 = time.perf_counter()
            # the new pool connects while the snapshot is parsed in a worker thread
            opening = asyncio.create_task(self._open_mux(TableRegistry.empty()))
            try:
                registry = await asyncio.to_thread(self._load_registry, new_hash, snapshot_path)
            except BaseException:
                with contextlib.suppress(Exception):
                    await (await opening).close()
                raise
            pool_state = "recreated"
            try:
                mux = await opening
            except Ctas7Error as exc:
                assert self._mux is not None
                mux = self._mux
                pool_state = f"kept: {exc}"
            mux.registry = registry
            old_mux, self._mux, self._registry = self._mux, mux, registry
            affected, failed = [], []
            for ctx in list(self._running.values()):
                lost = ctx.move_to(registry) is not None
                if lost:
                    failed.append(ctx.task_id)
                if lost or affected_by(impact, ctx.deps):
                    affected.append(ctx.task_id)
            self._capabilities = node_capabilities(self.node_id, registry, self._callables.values())
            self._last_update = time.time()
            reload_ms = (time.perf_counter() - t0) * 1000
            if old_mux is not None and old_mux is not mux:
                self._spawn(old_mux.close(timeout=self._drain_s + 30))
            report = ReloadReport(
                old_hash=old.schema_hash,
                new_hash=registry.schema_hash,
                reload_ms=round(reload_ms, 3),
                affected_tasks=tuple(affected),
                failed_tasks=tuple(failed),
                table_count=len(registry),
                column_count=registry.column_count,
                changed_tables=len(old.changed_tables(registry)),
                trigger=trigger,
                pool=pool_state,
            )
            self._last_report = report
        log.info(
            "legion: schema %s -> %s reloaded in %.1f ms (%d tasks moved, %d failed)",
            report.old_hash, report.new_hash, report.reload_ms, len(affected), len(failed),
        )  # fmt: skip
        await self._publish(
            ev.legion_schema_telemetry(
                old_hash=report.old_hash,
                new_hash=report.new_hash or "unknown",
                reload_ms=report.reload_ms,
                affected_tasks=list(report.affected_tasks),
                failed_tasks=list(report.failed_tasks),
                table_count=report.table_count,
                column_count=report.column_count,
                changed_tables=report.changed_tables,
                trigger=report.trigger,
                pool=report.pool,
                source_node=self.node_id,
            )
        )
        return report

    # --- tasks ---------------------------------------------------------------------------------

    def register_callable(
        self,
        name: str,
        fn: TaskFunction,
        *,
        uses: Mapping[str, Iterable[str]] | Iterable[Dependency] | None = None,
    ) -> None:
        """Make ``Task(name, params=...)`` run ``fn(ctx, **params)``; ``uses`` = its tables."""
        if not callable(fn):
            raise UsageError(f"task {name!r}: {fn!r} is not callable")
        self._callables[name] = CallableSpec(name, fn, dependencies(uses))
        self._capabilities = node_capabilities(
            self.node_id, self._registry, self._callables.values()
        )
        self._note_task(name, self._callables[name].uses)

    async def execute(self, task: Task) -> TaskResult:
        """Run one task to its end; never raises for a failing task (see ``TaskResult``).

        Publishes ``task_executed``. Cancelling it cancels the task (status ``cancelled``).
        """
        self._require_started()
        spec: CallableSpec | None = None
        if task.query is None:
            spec = self._callables.get(task.name)
        uses = (*task.uses, *(spec.uses if spec else ()))
        self._note_task(task.name, (*uses, *((task.query.dependency(),) if task.query else ())))
        ctx = TaskContext(task, schema_hash=self._registry.schema_hash, runner=self._run_query)
        ctx.deps.update(uses)
        self._running[task.task_id] = ctx
        t0 = time.perf_counter()
        value: Any = None
        error: Exception | None = None
        status = "succeeded"
        try:
            if task.query is not None:
                value = await ctx.query(task.query)
            elif spec is None:
                known = ", ".join(sorted(self._callables)) or "none registered"
                raise UsageError(f"task {task.name!r} is not registered (known: {known})")
            else:
                if uses:
                    self._check_deps(uses)
                value = await self._call(spec, ctx)
            ctx.checkpoint()
        except asyncio.CancelledError:
            status = "cancelled"
            self._finish(ctx, task, status, t0, None, None)
            raise
        except Exception as exc:  # a task's own bug must not take the engine down
            status, error = "failed", exc
            if not isinstance(exc, Ctas7Error):
                log.exception("legion: task %s (%s) raised", task.name, task.task_id)
        result = self._finish(ctx, task, status, t0, value, error)
        await self._publish(self._task_event(result))
        return result

    def submit(self, task: Task) -> asyncio.Task[TaskResult]:
        """Start ``execute(task)`` in the background; ``close()`` drains it."""
        handle = asyncio.create_task(self.execute(task), name=f"legion-task-{task.task_id}")
        self._task_handles.add(handle)
        handle.add_done_callback(self._task_handles.discard)
        return handle

    def running_tasks(self) -> list[dict[str, Any]]:
        return [ctx.snapshot() for ctx in self._running.values()]

    @property
    def registry(self) -> TableRegistry:
        return self._registry

    @property
    def capabilities(self) -> dict[str, Any]:
        return dict(self._capabilities)

    @property
    def last_reload(self) -> ReloadReport | None:
        return self._last_report

    def status(self) -> dict[str, Any]:
        """``get_schema_status()`` plus tables, running tasks, pool and outbox figures."""
        return {
            **self.get_schema_status(),
            "node_id": self.node_id,
            "table_count": len(self._registry),
            "running_tasks": len(self._running),
            "pool": self._mux.stats() if self._mux else None,
            "outbox": len(self._outbox),
            "last_reload_ms": self._last_report.reload_ms if self._last_report else None,
        }

    # --- internals -----------------------------------------------------------------------------

    @property
    def task_manifest_path(self) -> Path:
        """Where the task manifest goes: next to the hash cache (``graph.tasks``)."""
        from ctas7_panel.graph.tasks import default_manifest_path

        return default_manifest_path(self.hash_cache_path)

    def task_dependencies(self) -> dict[str, tuple[Dependency, ...]]:
        """Every task name seen (registered or run) and the tables/columns its queries touch."""
        return {n: tuple(sorted(d, key=lambda x: x.table)) for n, d in self._task_deps.items()}

    def _note_task(self, name: str, deps: Iterable[Dependency]) -> None:
        known = self._task_deps.get(name)
        new = set(deps)
        if known is not None and new <= known:
            return
        if known is None and len(self._task_deps) >= 2000:
            return  # bounded: ad-hoc task names must not grow the manifest forever
        self._task_deps.setdefault(name, set()).update(new)
        self._manifest_dirty = True
        if self._started:
            with contextlib.suppress(RuntimeError):  # no running loop: written at start()
                self._spawn(self._write_manifest())

    async def _write_manifest(self) -> None:
        """Write the task manifest where the sync node keeps its artifacts (if it does)."""
        if not self._manifest_dirty or not self.snapshot_path.exists():
            return
        from ctas7_panel.graph.tasks import task_uses, write_manifest

        self._manifest_dirty = False
        tasks = task_uses(self._task_deps)
        try:
            await asyncio.to_thread(write_manifest, self.task_manifest_path, tasks)
        except Ctas7Error as exc:
            self._manifest_dirty = True
            log.warning("legion: cannot write the task manifest: %s", exc)

    def _require_started(self) -> None:
        if not self._started:
            raise UsageError("legion engine is not started: `await engine.start()` first")

    def _load_registry(
        self, new_hash: str | None, snapshot_path: Path | None = None
    ) -> TableRegistry:
        """The registry of the snapshot (``SnapshotLoader``); runs in a worker thread."""
        return self._loader.load(
            new_hash, snapshot_path, introspect_if_missing=not len(self._registry)
        )

    async def prefetch_snapshot(self, snapshot_path: Path | None = None) -> bool:
        """Parse the snapshot on disk now, so the next reload of that file skips the parse.

        The watcher calls this as soon as the snapshot file changes, typically before the
        matching ``schema_updated`` event arrives. Returns False if the file is unusable
        (the reload will then report why).
        """
        try:
            await asyncio.to_thread(self._load_registry, None, snapshot_path)
        except Ctas7Error:
            return False
        return True

    async def _open_mux(self, registry: TableRegistry) -> DatabaseMux:
        lo, hi = self._pool_sizes
        mux = DatabaseMux(
            self.database_url, registry, min_size=lo, max_size=hi, timeout=self._db_timeout
        )
        await mux.open()
        return mux

    def _check_deps(self, uses: Iterable[Dependency]) -> None:
        broken = self._registry.broken(uses)
        if broken is not None:
            raise broken

    async def _run_query(self, ctx: TaskContext, query: Query) -> tuple[list[dict[str, Any]], int]:
        if not len(self._registry) and self._registry.schema_hash is None:
            raise SchemaError(
                f"legion has no schema snapshot loaded (looked at {self.snapshot_path}): "
                "run `ctas7 schema sync`, then send schema_updated or touch the hash cache"
            )
        for _ in range(5):
            mux = self._mux
            if mux is None:
                break
            try:
                result = await mux.run(query)
            except PoolGone:
                await asyncio.sleep(0)  # a reload swapped the pool: retry on the new one
                continue
            return result.rows, result.rowcount
        raise UsageError("legion engine is closed: the task cannot reach the database")

    async def _call(self, spec: CallableSpec, ctx: TaskContext) -> Any:
        if spec.is_async:
            return await spec.fn(ctx, **ctx.params)
        result = await asyncio.to_thread(spec.fn, ctx, **ctx.params)
        if inspect.isawaitable(result):
            return await result
        return result

    def _finish(
        self,
        ctx: TaskContext,
        task: Task,
        status: str,
        t0: float,
        value: Any,
        error: Exception | None,
    ) -> TaskResult:
        self._running.pop(task.task_id, None)
        self._note_task(task.name, ctx.deps)  # every query it ran, for the task manifest
        result = TaskResult(
            task_id=task.task_id,
            name=task.name,
            status=status,
            duration_ms=round((time.perf_counter() - t0) * 1000, 3),
            rows=ctx.rows,
            schema_hash=ctx.schema_hash,
            hash_history=tuple(ctx.hash_history),
            error=str(error) if error is not None else None,
            error_type=type(error).__name__ if error is not None else None,
            value=value,
        )
        if status == "cancelled":
            self._spawn(self._publish(self._task_event(result)))
        return result

    def _task_event(self, r: TaskResult) -> Event:
        return ev.task_executed(
            task_id=r.task_id,
            name=r.name,
            status=r.status,
            duration_ms=r.duration_ms,
            rows=r.rows,
            schema_hash=r.schema_hash,
            error=r.error,
            error_type=r.error_type,
            source_node=self.node_id,
        )

    async def _publish(self, event: Event) -> None:
        if self.bus is not None:
            await self._outbox.publish(self.bus, event, EVENTS_TOPIC)

    async def _notify(self, event: Event) -> None:
        for fn in list(self._listeners):
            try:
                out = fn(event)
                if inspect.isawaitable(out):
                    await out
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("legion: schema update listener %r failed", fn)

    def _first_time(self, event_id: str) -> bool:
        return not self._seen.check_and_add(event_id)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            await coro

        t = asyncio.create_task(run())
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    async def _consume(self, sub: Any) -> None:
        """Read ``target.legion``; handle, then ack (a failed handling is logged, not retried)."""
        try:
            while not self._stop.is_set():
                for msg in await sub.get(32, timeout=0.5):
                    try:
                        await self.handle_event(msg.event)
                    except Ctas7Error as exc:
                        log.error("legion: event %s not applied: %s", msg.event.event_id, exc)
                    await sub.ack(msg)
        finally:
            await sub.close()

    async def handle_event(self, event: Event) -> ReloadReport | None:
        """Any event from ``target.legion``: schema events reload; others are recorded only."""
        if event.event_type in {"schema_updated", "schema_nochange"}:
            return await self.handle_schema_update_event(event)
        log.debug("legion: received %s %s", event.event_type, event.event_id)
        return None

    async def _watch(self) -> None:
        async def changed(paths: set[Path]) -> None:
            if self.snapshot_path.resolve() in paths:
                await self.prefetch_snapshot()
            disk = await asyncio.to_thread(artifact_hash, self.hash_cache_path, self.snapshot_path)
            if disk is None or disk == self._registry.schema_hash:
                return
            report = await self.reload_database_connections(new_hash=disk, trigger="watch")
            if not report.skipped:
                await self._notify(self._watch_event(report))

        await watch_artifacts(
            [self.hash_cache_path, self.snapshot_path, self.schema_path],
            changed,
            stop=self._stop,
            debounce_ms=self._debounce_ms,
            ready=self._watch_ready,
        )

    def _watch_event(self, report: ReloadReport) -> Event:
        return Event.create(
            "schema_updated",
            {
                "status": "updated",
                "new_hash": report.new_hash or "unknown",
                "old_hash": report.old_hash,
                "schema_path": str(self.schema_path),
                "table_count": report.table_count,
                "trigger": "watch",
            },
            source_node=self.node_id,
        )


def as_event(event: Event | Mapping[str, Any] | str | bytes) -> Event:
    """An ``Event`` from an ``Event`` or its JSON form (dict, str or bytes); ``EventError`` if
    it is none of those or malformed. The payload is checked by the caller (either form of a
    schema event is accepted: raw or "For Legion")."""
    if isinstance(event, Event):
        return event
    if isinstance(event, str | bytes | bytearray):
        return Event.from_json(event, fill_defaults=True, check_payload=False)
    if isinstance(event, Mapping):
        return Event.from_dict(dict(event), fill_defaults=True, check_payload=False)
    raise EventError(f"expected an Event, its JSON text or its dict, got {type(event).__name__}")
