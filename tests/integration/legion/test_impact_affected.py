"""Legion's affected tasks come from the schema_updated impact (issue 18), on real parts: the
Schema Sync Node computes the impact of a real DDL, the bridge's Legion transform carries it,
the engine reloads and names only the running tasks that use what changed. The engine also
keeps the task manifest the graph reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ctas7_panel import pgtools
from ctas7_panel.bridge.transforms import legion_schema_updated
from ctas7_panel.graph.tasks import read_manifest
from ctas7_panel.legion import LegionExecutionEngine, Query, Task, TaskContext
from ctas7_panel.legion.registry import Dependency
from ctas7_panel.legion.reload import affected_by
from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig
from ctas7_panel.streams.bus import MemoryBus


def test_affected_by_is_conservative() -> None:
    deps = [Dependency.of("jobs", ["id", "name"])]
    assert affected_by(None, deps)
    assert affected_by({"truncated": True, "relations": []}, deps)
    assert affected_by({"relations": ["public.jobs"], "columns": []}, deps)
    assert affected_by({"relations": [], "columns": ["public.jobs.name"]}, deps)
    assert not affected_by({"relations": ["public.other"], "columns": ["public.other.x"]}, deps)


async def test_only_tasks_using_what_changed_are_affected(
    fresh_db_url: str, tmp_path: Path
) -> None:
    pgtools.apply_sql(
        fresh_db_url,
        "create table public.jobs (id int primary key, name text);\n"
        "create table public.other (id int primary key, x text, y text);\n"
        "create view public.other_x as select id, x from public.other;\n"
        "insert into public.jobs values (1, 'a'); insert into public.other values (1, 'x', 'y');\n",
    )
    home = tmp_path / "ctas7"
    config = SyncConfig(
        db_url=fresh_db_url,
        schema_path=str(home / "types.ts"),
        hash_cache_path=str(home / ".last_schema_hash"),
        watch_artifacts=False,
    )
    started = {"jobs": asyncio.Event(), "other": asyncio.Event(), "view": asyncio.Event()}
    release = asyncio.Event()

    def gate(table: str, columns: tuple[str, ...], key: str):  # type: ignore[no-untyped-def]
        async def run(ctx: TaskContext) -> int:
            rows = await ctx.query(Query(table, columns=columns))
            started[key].set()
            await release.wait()
            return len(rows)

        return run

    async with SchemaSyncNode(config) as node, MemoryBus() as bus:
        first = await node.sync()
        assert first.event_type == "schema_updated"
        engine = LegionExecutionEngine(
            database_url=fresh_db_url,
            bus=bus,
            hash_cache_path=config.hash_cache_path,
            schema_path=config.schema_path,
            watch=False,
        )
        async with engine:
            engine.register_callable("on_jobs", gate("jobs", ("id", "name"), "jobs"))
            engine.register_callable("on_other_y", gate("other", ("id", "y"), "other"))
            engine.register_callable("on_view", gate("other_x", ("id", "x"), "view"))
            handles = {
                name: engine.submit(Task(name)) for name in ("on_jobs", "on_other_y", "on_view")
            }
            for e in started.values():
                await asyncio.wait_for(e.wait(), 10)

            # the view breaks (it uses other.x); jobs is untouched; on_other_y uses the table
            pgtools.apply_sql(fresh_db_url, "alter table public.other drop column x cascade")
            updated = await node.sync()
            impact = updated.payload["impact"]
            assert impact["basis"] == "catalog"
            assert {"kind": "column", "name": "public.other.x", "change": "removed"} in impact[
                "changes"
            ]
            assert "public.jobs" not in impact["relations"]
            report = await engine.handle_schema_update_event(
                updated.with_payload(legion_schema_updated(updated))
            )
            assert report is not None
            ids = {n: h for n, h in handles.items()}
            running = {r["name"]: r["task_id"] for r in engine.running_tasks()}
            assert set(report.affected_tasks) == {running["on_other_y"], running["on_view"]}
            assert report.failed_tasks == (running["on_view"],)  # its view is gone
            release.set()
            results = {n: await asyncio.wait_for(h, 10) for n, h in ids.items()}
            assert results["on_jobs"].ok and results["on_other_y"].ok
            assert not results["on_view"].ok and "other_x" in (results["on_view"].error or "")

        # the engine kept its task manifest next to the hash cache, for the graph to read
        manifest = {t.name: t for t in read_manifest(engine.task_manifest_path)}
        assert set(manifest) == {"on_jobs", "on_other_y", "on_view"}
        assert manifest["on_view"].uses[0].table == "public.other_x"
        assert manifest["on_jobs"].uses[0].columns == ("id", "name")
