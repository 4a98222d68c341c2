"""Legion on a real PostgreSQL: hot reload under running tasks, schema errors, telemetry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ctas7_panel import events as ev
from ctas7_panel import pgtools
from ctas7_panel.errors import ArtifactError, EventError, UsageError
from ctas7_panel.events import Event
from ctas7_panel.legion import LegionExecutionEngine, Query, Task, TaskContext
from ctas7_panel.schema.artifacts import atomic_write
from ctas7_panel.streams.bus import MemoryBus, Message, Subscription
from tests.waiting import inotify_watches, wait_until

Artifacts = Any  # the ``artifacts`` fixture of conftest.py (writes snapshot + hash cache)


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():  # noqa: ASYNC110 - polling state owned by the engine
            await asyncio.sleep(0.01)


def for_legion(new_hash: str, schema_path: str = "./database/supabase_schema.ts") -> Event:
    """A schema_updated as the bridge delivers it to Legion (the seed's "For Legion" payload)."""
    raw = ev.schema_updated(
        new_hash=new_hash, old_hash=None, schema_path=schema_path, table_count=1
    )
    return raw.with_payload(
        {
            "action": "reload_database_types",
            "schema_path": schema_path,
            "new_hash": new_hash,
            "affected_systems": ["LegionExecutionEngine", "SlotGraphQueryEngine"],
            "reload_required": True,
        }
    )


class EventLog:
    """Everything a consumer group of ``events`` received (what the bridge would see)."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.events: list[Event] = []

    async def of_type(self, event_type: str, n: int = 1) -> list[Event]:
        async with asyncio.timeout(10):
            while len(found := [e for e in self.events if e.event_type == event_type]) < n:
                msgs: list[Message] = await self.sub.get(50, timeout=0.2)
                await self.sub.ack(*msgs)
                self.events.extend(m.event for m in msgs)
        return found


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    async with MemoryBus() as b:
        yield b


@pytest.fixture
async def engine(jobs_db: str, artifacts: Artifacts, bus: MemoryBus) -> AsyncIterator[Any]:
    artifacts.write(jobs_db)
    eng = LegionExecutionEngine(
        database_url=jobs_db,
        bus=bus,
        hash_cache_path=artifacts.hash_cache,
        schema_path=artifacts.types,
        watch=False,
    )
    async with eng:
        yield eng


class Gate:
    """A long-running callable task: one query, wait for the test, then another query."""

    def __init__(self, second: Query) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.second = second
        self.seen_hashes: list[str | None] = []

    async def __call__(self, ctx: TaskContext) -> int:
        first = await ctx.query(Query("jobs", columns=("id", "name", "note")))
        self.seen_hashes.append(ctx.schema_hash)
        self.started.set()
        await self.release.wait()
        self.seen_hashes.append(ctx.schema_hash)
        second = await ctx.query(self.second)
        return len(first) + len(second)


async def test_long_task_survives_a_schema_change_and_ends_under_the_new_hash(
    engine: LegionExecutionEngine, jobs_db: str, artifacts: Artifacts, bus: MemoryBus
) -> None:
    events = EventLog(await bus.subscribe("bridge", topic="events"))
    gate = Gate(Query("jobs", columns=("id", "priority")))
    engine.register_callable("long", gate, uses={"jobs": ["id", "name"]})
    old_hash = engine.get_schema_status()["current_hash"]
    handle = engine.submit(Task("long"))
    await asyncio.wait_for(gate.started.wait(), 10)

    pgtools.apply_sql(jobs_db, "ALTER TABLE public.jobs ADD COLUMN priority integer DEFAULT 5")
    new_hash = artifacts.write(jobs_db)
    assert new_hash != old_hash
    await bus.publish(for_legion(new_hash), topic="target.legion")
    await wait_for(lambda: engine.get_schema_status()["current_hash"] == new_hash)
    assert not handle.done()  # still running across the reload
    assert engine.running_tasks()[0]["schema_hash"] == new_hash

    gate.release.set()
    result = await asyncio.wait_for(handle, 10)
    assert result.status == "succeeded", result.error
    assert result.schema_hash == new_hash
    assert result.hash_history == (old_hash, new_hash)
    assert gate.seen_hashes == [old_hash, new_hash]
    assert result.rows == 6  # 3 rows before, 3 rows with the new column after
    assert result.value == 6

    (telemetry,) = await events.of_type("legion_schema_telemetry")
    assert telemetry.payload["old_hash"] == old_hash
    assert telemetry.payload["new_hash"] == new_hash
    assert telemetry.payload["affected_tasks"] == [result.task_id]
    assert telemetry.payload["failed_tasks"] == []
    assert telemetry.payload["reload_ms"] > 0
    (executed,) = await events.of_type("task_executed")
    assert executed.payload["task_id"] == result.task_id
    assert executed.payload["status"] == "succeeded"
    assert executed.payload["schema_hash"] == new_hash
    assert executed.payload["rows"] == 6


async def test_running_task_on_a_dropped_column_fails_naming_it(
    engine: LegionExecutionEngine, jobs_db: str, artifacts: Artifacts, bus: MemoryBus
) -> None:
    events = EventLog(await bus.subscribe("bridge", topic="events"))
    gate = Gate(Query("jobs", columns=("id",)))
    engine.register_callable("uses_note", gate)
    handle = engine.submit(Task("uses_note"))
    await asyncio.wait_for(gate.started.wait(), 10)

    pgtools.apply_sql(jobs_db, "ALTER TABLE public.jobs DROP COLUMN note")
    new_hash = artifacts.write(jobs_db)
    report = await engine.handle_schema_update_event(for_legion(new_hash))
    assert report is not None
    assert report.failed_tasks == (handle.get_name().removeprefix("legion-task-"),)

    gate.release.set()
    result = await asyncio.wait_for(handle, 10)
    assert result.status == "failed"
    assert result.error_type == "SchemaError"
    assert "column 'note'" in (result.error or "")
    assert "public.jobs" in (result.error or "")
    assert result.schema_hash == new_hash

    (telemetry,) = await events.of_type("legion_schema_telemetry")
    assert telemetry.payload["failed_tasks"] == [result.task_id]
    (executed,) = await events.of_type("task_executed")
    assert executed.payload["status"] == "failed"
    assert "column 'note'" in executed.payload["error"]

    # a new query naming the dropped column is refused before it reaches the database
    refused = await engine.execute(Task("read_note", query=Query("jobs", columns=("note",))))
    assert refused.status == "failed"
    assert "column 'note' of table 'public.jobs' is not in the schema" in (refused.error or "")
    ok = await engine.execute(Task("read_names", query=Query("jobs", columns=("name",))))
    assert ok.ok and ok.rows == 3


async def test_a_column_dropped_before_the_reload_is_named_by_the_database_error(
    engine: LegionExecutionEngine, jobs_db: str
) -> None:
    pgtools.apply_sql(jobs_db, "ALTER TABLE public.jobs DROP COLUMN weight")
    result = await engine.execute(Task("stale", query=Query("jobs", columns=("id", "weight"))))
    assert result.status == "failed"
    assert result.error_type == "SchemaError"
    assert 'column "weight" does not exist' in (result.error or "")


async def test_schema_status_reports_the_new_hash_right_after_reload(
    engine: LegionExecutionEngine, jobs_db: str, artifacts: Artifacts
) -> None:
    calls: list[str] = []
    engine.add_schema_update_listener(lambda e: calls.append(e.payload["new_hash"]))

    async def async_listener(e: Event) -> None:
        calls.append("async:" + e.payload["new_hash"])

    engine.add_schema_update_listener(async_listener)
    before = engine.get_schema_status()
    assert set(before) == {"current_hash", "last_update", "listeners_count", "is_watching"}
    assert before["listeners_count"] == 2
    assert before["is_watching"] is False

    pgtools.apply_sql(jobs_db, "CREATE TABLE public.extra (id int primary key)")
    new_hash = artifacts.write(jobs_db)
    update = for_legion(new_hash)
    report = await engine.handle_schema_update_event(update)
    after = engine.get_schema_status()
    assert report is not None and report.new_hash == new_hash
    assert after["current_hash"] == new_hash
    assert after["last_update"] >= before["last_update"]
    assert calls == [new_hash, "async:" + new_hash]
    assert engine.registry.get("extra") is not None
    assert engine.capabilities["schema_hash"] == new_hash
    assert engine.capabilities["relations"] == {"table": 2}

    engine.remove_schema_update_listener(async_listener)
    assert engine.get_schema_status()["listeners_count"] == 1
    # the same event again (at-least-once delivery) changes nothing
    assert await engine.handle_schema_update_event(update) is None
    assert calls == [new_hash, "async:" + new_hash]
    # raw schema_updated payload, same hash: no reload, listeners still told
    raw = ev.schema_updated(new_hash=new_hash, old_hash=None, schema_path="x", table_count=2)
    report2 = await engine.handle_schema_update_event(raw)
    assert report2 is not None and report2.skipped
    assert calls[-1] == new_hash


async def test_raw_schema_updated_payload_reloads_and_the_pool_is_recreated(
    engine: LegionExecutionEngine, jobs_db: str, artifacts: Artifacts
) -> None:
    pgtools.apply_sql(jobs_db, "ALTER TABLE public.jobs ADD COLUMN tag text")
    new_hash = artifacts.write(jobs_db)
    raw = ev.schema_updated(
        new_hash=new_hash, old_hash="x", schema_path=str(artifacts.types), table_count=1
    )
    report = await engine.handle_schema_update_event(raw)
    assert report is not None
    assert report.pool == "recreated"
    assert report.changed_tables == 1
    rows = await engine.execute(
        Task("insert", query=Query("jobs", op="insert", values={"name": "d", "tag": "t"}))
    )
    assert rows.ok and rows.rows == 1
    count = await engine.execute(Task("count", query=Query("jobs", op="count", where={"tag": "t"})))
    assert count.value == [{"count": 1}]


async def test_bad_events_and_bad_snapshots_leave_the_engine_running(
    engine: LegionExecutionEngine, jobs_db: str, artifacts: Artifacts, bus: MemoryBus
) -> None:
    good_hash = engine.get_schema_status()["current_hash"]
    bad = for_legion("abc").with_payload({"new_hash": "abc", "reload_required": "yes"})
    with pytest.raises(EventError) as err:
        await engine.handle_schema_update_event(bad)
    assert err.value.field == "payload.reload_required"

    artifacts.snapshot.write_text("{not json")
    with pytest.raises(ArtifactError, match="is not valid JSON"):
        await engine.handle_schema_update_event(for_legion("def"))
    assert engine.get_schema_status()["current_hash"] == good_hash
    ok = await engine.execute(Task("still", query=Query("jobs", op="count")))
    assert ok.ok

    # through the bus: the bad event is logged and acked, the next good one applies
    new_hash = artifacts.write(jobs_db)  # same schema, so same hash as before
    pgtools.apply_sql(jobs_db, "ALTER TABLE public.jobs ADD COLUMN z int")
    newer = artifacts.write(jobs_db)
    assert newer != new_hash
    await bus.publish(bad.with_payload({"reload_required": 3}), topic="target.legion")
    await bus.publish(for_legion(newer), topic="target.legion")
    await wait_for(lambda: engine.get_schema_status()["current_hash"] == newer)


async def test_unknown_task_and_type_errors_fail_cleanly(engine: LegionExecutionEngine) -> None:
    unknown = await engine.execute(Task("nope"))
    assert unknown.status == "failed" and "not registered" in (unknown.error or "")

    wrong = await engine.execute(Task("w", query=Query("jobs", op="insert", values={"name": 5})))
    assert wrong.status == "failed"
    assert "column 'name' of table 'public.jobs' is text" in (wrong.error or "")

    ident = await engine.execute(
        Task("i", query=Query("jobs", op="insert", values={"id": 9, "name": "n"}))
    )
    assert "identity column" in (ident.error or "")

    def boom(ctx: TaskContext) -> None:
        raise RuntimeError("task bug")

    engine.register_callable("boom", boom)
    crashed = await engine.execute(Task("boom"))
    assert crashed.status == "failed" and crashed.error == "task bug"
    assert crashed.error_type == "RuntimeError"
    with pytest.raises(UsageError):
        engine.register_callable("x", 3)  # type: ignore[arg-type]


async def test_declared_dependency_missing_fails_before_running(
    engine: LegionExecutionEngine,
) -> None:
    ran: list[int] = []

    async def fn(ctx: TaskContext) -> None:
        ran.append(1)

    engine.register_callable("needs_gone", fn, uses={"jobs": ["gone"]})
    result = await engine.execute(Task("needs_gone"))
    assert result.status == "failed" and "column 'gone'" in (result.error or "")
    assert ran == []
    assert "needs_gone" in engine.capabilities["blocked_callables"]


async def test_artifacts_rewritten_by_another_process_trigger_a_reload(
    jobs_db: str, artifacts: Artifacts, bus: MemoryBus
) -> None:
    artifacts.write(jobs_db)
    seen: list[Event] = []
    async with LegionExecutionEngine(
        database_url=jobs_db,
        bus=bus,
        hash_cache_path=artifacts.hash_cache,
        schema_path=artifacts.types,
        watch=True,
        watch_debounce_ms=20,
    ) as eng:
        eng.add_schema_update_listener(seen.append)
        assert eng.get_schema_status()["is_watching"] is True
        pgtools.apply_sql(jobs_db, "CREATE TABLE public.other (id int)")
        proc = await asyncio.create_subprocess_exec(
            "python3", "-c", "import sys; open(sys.argv[1], 'a').close()", str(artifacts.types)
        )
        await proc.wait()
        new_hash = artifacts.write(jobs_db)
        await wait_for(lambda: eng.get_schema_status()["current_hash"] == new_hash)
        assert eng.registry.get("other") is not None
        assert eng.last_reload is not None and eng.last_reload.trigger == "watch"
        await wait_for(lambda: len(seen) == 1)
        assert seen[0].payload["trigger"] == "watch"
    assert eng.get_schema_status()["is_watching"] is False


async def test_engine_given_only_a_database_url_reads_the_schema_itself(
    jobs_db: str, artifacts: Artifacts
) -> None:
    """No snapshot file yet (no sync ran here): Legion introspects the database, with the same
    fingerprint the Schema Sync Node computes, so the first snapshot that lands reloads nothing.
    """
    async with LegionExecutionEngine(
        database_url=jobs_db, hash_cache_path=artifacts.hash_cache, schema_path=artifacts.types
    ) as eng:
        status = eng.get_schema_status()
        assert status["current_hash"] is not None and status["last_update"] is not None
        assert eng.registry.get("jobs") is not None
        result = await eng.execute(Task("q", query=Query("jobs", op="count")))
        assert result.ok and result.value == [{"count": 3}]
        assert result.schema_hash == status["current_hash"]

        prefetches = 0  # the watcher prefetches the snapshot of each change it handles
        real_prefetch = eng.prefetch_snapshot

        async def counted_prefetch(path: Path | None = None) -> bool:
            nonlocal prefetches
            prefetches += 1
            return await real_prefetch(path)

        eng.prefetch_snapshot = counted_prefetch  # type: ignore[method-assign]
        await wait_until(lambda: inotify_watches(artifacts.home), "the watcher is up")
        written = artifacts.write(jobs_db)  # what a sync writes: snapshot, then hash cache
        assert written == status["current_hash"]
        await wait_until(lambda: prefetches >= 1, "the watcher saw the new snapshot")
        # changes are handled one after another: once the next one starts, the first (and the
        # hash cache's) is done, with or without a reload
        atomic_write(artifacts.snapshot, artifacts.snapshot.read_bytes())
        await wait_until(lambda: prefetches >= 2, "the watcher saw the snapshot rewritten")
        assert eng.get_schema_status()["current_hash"] == written  # same hash, no reload
        assert eng.last_reload is None


async def test_engine_with_no_snapshot_and_no_database_schema_explains_what_to_do(
    fresh_db_url: str, tmp_path: Any
) -> None:
    async with LegionExecutionEngine(
        database_url=fresh_db_url, hash_cache_path=tmp_path / "h", watch=False
    ) as eng:
        assert len(eng.registry) == 0  # an empty database: nothing to run against
        result = await eng.execute(Task("q", query=Query("jobs")))
        assert result.status == "failed"
        assert "jobs" in (result.error or "")


async def test_schema_update_event_as_dict_or_json_text(
    engine: LegionExecutionEngine, jobs_db: str, artifacts: Artifacts
) -> None:
    """A caller porting the seed passes the event's JSON: the dict, or the text."""
    pgtools.apply_sql(jobs_db, "ALTER TABLE public.jobs ADD COLUMN zone text")
    newer = artifacts.write(jobs_db)
    as_dict = for_legion(newer).to_dict()
    report = await engine.handle_schema_update_event(as_dict)
    assert report is not None and report.new_hash == newer
    assert await engine.handle_schema_update_event(as_dict) is None  # same event_id: once

    pgtools.apply_sql(jobs_db, "ALTER TABLE public.jobs DROP COLUMN zone")
    newest = artifacts.write(jobs_db)
    raw = ev.schema_updated(
        new_hash=newest, old_hash=newer, schema_path=str(artifacts.types), table_count=1
    )
    bare = {"event_type": "schema_updated", "payload": raw.payload}  # no id, time or source
    report = await engine.handle_schema_update_event(orjson_text(bare))
    assert report is not None and report.new_hash == newest

    with pytest.raises(EventError, match="JSON"):
        await engine.handle_schema_update_event("{not json")
    with pytest.raises(EventError, match="event_type"):
        await engine.handle_schema_update_event({"payload": {}})
    with pytest.raises(EventError, match="expected an Event"):
        await engine.handle_schema_update_event(42)  # type: ignore[arg-type]
    assert engine.get_schema_status()["current_hash"] == newest


def orjson_text(obj: Any) -> str:
    import orjson

    return orjson.dumps(obj).decode()


async def test_unreachable_database_is_a_clear_error(tmp_path: Any) -> None:
    from ctas7_panel.errors import DatabaseError
    from ctas7_panel.netutil import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    eng = LegionExecutionEngine(
        database_url=url, hash_cache_path=tmp_path / "h", watch=False, db_timeout=1
    )
    with pytest.raises(DatabaseError, match="cannot connect"):
        await eng.start()
    with pytest.raises(UsageError, match="not started"):
        await eng.execute(Task("x"))
