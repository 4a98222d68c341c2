"""One sync pass against real PostgreSQL: the seed's events, atomic artifacts, unknown state."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ctas7_panel import pgtools
from ctas7_panel.events import Event
from ctas7_panel.schema.introspect import introspect
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.sync import SchemaSyncNode
from ctas7_panel.schema.typegen import generate_typescript
from ctas7_panel.store import open_store
from ctas7_panel.streams.bus import MemoryBus

SEED_FIELDS = ("status", "new_hash", "old_hash", "schema_path", "table_count")
OUR_FIELDS = ("types_hash", "diff", "duration_ms")


def typegen_output(url: str) -> str:
    with pgtools.connect(url) as conn:
        return generate_typescript(introspect(conn, TypegenOptions()), TypegenOptions())


async def test_fresh_database_update_nochange_then_a_new_column(
    core_db_url: str, paths: Any, recorder: Any, sql: Callable[..., None]
) -> None:
    async with SchemaSyncNode(paths.config(core_db_url), on_event=recorder) as node:
        first = await node.sync()
        assert first.event_type == "schema_updated"
        p = first.payload
        assert all(k in p for k in SEED_FIELDS + OUR_FIELDS)
        assert p["status"] == "updated"
        assert p["old_hash"] is None
        assert p["table_count"] == 7
        assert p["schema_path"] == str(paths.types)
        assert p["reason"] == "hash cache missing; snapshot missing"
        assert paths.cache.read_text() == p["new_hash"]  # plain hex, as in the seed
        assert paths.types.read_text() == typegen_output(core_db_url)

        second = await node.sync()
        assert second.event_type == "schema_nochange"
        assert second.payload["status"] == "unchanged"
        assert second.payload["new_hash"] == p["new_hash"]
        assert all(k in second.payload for k in SEED_FIELDS + OUR_FIELDS)

        sql(core_db_url, "ALTER TABLE public.tasks ADD COLUMN review_note text")
        third = await node.sync()
        assert third.event_type == "schema_updated"
        assert third.payload["old_hash"] == p["new_hash"]
        assert third.payload["new_hash"] != p["new_hash"]
        assert third.payload["reason"] == "schema changed"
        assert "review_note" in third.payload["diff"] or "review_note" in orjson.dumps(
            third.payload["changes"]
        ).decode("utf-8")
        assert third.payload["types_written"] is True
        types = paths.types.read_text()
        assert "review_note: string | null" in types
        assert types == typegen_output(core_db_url)
        assert paths.cache.read_text() == third.payload["new_hash"]
    assert [e.event_type for e in recorder.events] == [
        "schema_updated",
        "schema_nochange",
        "schema_updated",
    ]
    for e in recorder.events:  # every event is valid on the wire
        assert Event.from_json(e.to_json()) == e


async def test_change_outside_the_types_updates_the_hash_not_the_types_file(
    core_db_url: str, paths: Any, sql: Callable[..., None]
) -> None:
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        before = await node.sync()
        inode, mtime = paths.types.stat().st_ino, paths.types.stat().st_mtime_ns
        sql(core_db_url, "CREATE INDEX tasks_name_idx ON public.tasks (name)")
        after = await node.sync()
    assert after.event_type == "schema_updated"
    assert after.payload["new_hash"] != before.payload["new_hash"]
    assert after.payload["types_written"] is False  # ... and says so
    assert after.payload["types_hash"] == before.payload["types_hash"]
    assert (paths.types.stat().st_ino, paths.types.stat().st_mtime_ns) == (inode, mtime)
    assert paths.cache.read_text() == after.payload["new_hash"]


@pytest.mark.parametrize(
    "ddl",
    [
        "COMMENT ON COLUMN public.tasks.name IS 'what the task is called'",
        "ALTER TABLE public.tasks ADD CONSTRAINT name_not_blank CHECK (name <> '')",
    ],
)
async def test_every_catalog_change_is_seen_by_a_long_lived_node(
    core_db_url: str, paths: Any, sql: Callable[..., None], ddl: str
) -> None:
    """The catalog probe lets repeated passes skip introspection; it must not hide changes."""
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        first = await node.sync()
        assert (await node.sync()).event_type == "schema_nochange"
        sql(core_db_url, "ANALYZE", "VACUUM public.tasks")  # statistics only: no change
        assert (await node.sync()).event_type == "schema_nochange"
        sql(core_db_url, ddl)
        event = await node.sync()
    assert event.event_type == "schema_updated"
    assert event.payload["old_hash"] == first.payload["new_hash"]
    assert event.payload["types_written"] is False


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("delete_cache", "hash cache missing"),
        ("empty_cache", "hash cache empty"),
        ("corrupt_cache", "hash cache corrupt"),
        ("delete_snapshot", "snapshot missing"),
        ("corrupt_snapshot", "snapshot corrupt"),
        ("empty_snapshot", "snapshot empty"),
    ],
)
async def test_missing_empty_or_corrupt_state_is_unknown_not_a_crash(
    core_db_url: str, paths: Any, damage: str, reason: str
) -> None:
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        good = await node.sync()
        {
            "delete_cache": lambda: paths.cache.unlink(),
            "empty_cache": lambda: paths.cache.write_bytes(b""),
            "corrupt_cache": lambda: paths.cache.write_bytes(b"\x00garbage\xff"),
            "delete_snapshot": lambda: paths.snapshot.unlink(),
            "corrupt_snapshot": lambda: paths.snapshot.write_bytes(b'{"format": "ctas7-sy'),
            "empty_snapshot": lambda: paths.snapshot.write_bytes(b"\n"),
        }[damage]()
        again = await node.sync()
        assert again.event_type == "schema_updated"
        assert again.payload["reason"].startswith(reason)
        assert again.payload["new_hash"] == good.payload["new_hash"]
        if "cache" in damage:
            assert again.payload["old_hash"] is None
        assert paths.cache.read_text() == good.payload["new_hash"]
        assert (await node.sync()).event_type == "schema_nochange"  # healed


@pytest.mark.parametrize("change", ["deleted", "modified"])
async def test_types_file_deleted_or_edited_by_hand_is_restored(
    core_db_url: str, paths: Any, change: str
) -> None:
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        await node.sync()
        original = paths.types.read_bytes()
        if change == "deleted":
            paths.types.unlink()
        else:
            paths.types.write_text("// edited by hand\n")
        event = await node.sync()
    assert event.event_type == "schema_artifact_modified"
    assert event.payload == {
        "path": str(paths.types),
        "change": change,
        "restored": True,
        "trigger": "manual",
    }
    assert paths.types.read_bytes() == original


async def test_events_go_to_the_bus_and_the_store(
    core_db_url: str, paths: Any, tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    async with MemoryBus() as bus:
        sub = await bus.subscribe("bridge", topic="events")
        async with SchemaSyncNode(paths.config(core_db_url), bus=bus, store=store) as node:
            event = await node.sync()
        msgs = await sub.get(10, timeout=2)
    assert [m.event for m in msgs] == [event]
    assert [e for _, e in store.fetch()] == [event]
    store.close()


# --- the external generator --------------------------------------------------------------------

FAKE_GENERATOR = textwrap.dedent(
    """
    import os, sys
    import psycopg
    with psycopg.connect(os.environ["CTAS7_DATABASE_URL"]) as conn:
        n = conn.execute(
            "select count(*) from information_schema.columns where table_schema = 'public'"
        ).fetchone()[0]
    print(f"// generated by {sys.argv[1]} for project {sys.argv[2]}")
    print(f"export type ColumnCount = {n}")
    """
)


def _generator(tmp_path: Path, body: str) -> str:
    script = tmp_path / "gen.py"
    script.write_text(body)
    return f"{sys.executable} {script} fake-supabase {{project_id}}"


async def test_external_generator_output_is_the_types_file(
    core_db_url: str, paths: Any, tmp_path: Path, sql: Callable[..., None]
) -> None:
    cfg = paths.config(core_db_url, typegen_command=_generator(tmp_path, FAKE_GENERATOR))
    async with SchemaSyncNode(cfg) as node:
        first = await node.sync()
        text = paths.types.read_text()
        assert text.startswith("// generated by fake-supabase for project ctas7-command-center\n")
        import hashlib

        assert first.payload["types_hash"] == hashlib.sha256(text.encode()).hexdigest()
        sql(core_db_url, "ALTER TABLE public.nodes ADD COLUMN zone text")
        second = await node.sync()
    assert second.event_type == "schema_updated"
    n_before = int(text.rsplit("= ", 1)[1])
    assert paths.types.read_text().endswith(f"ColumnCount = {n_before + 1}\n")


async def test_switching_generator_regenerates(
    core_db_url: str, paths: Any, tmp_path: Path
) -> None:
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        await node.sync()
    cfg = paths.config(core_db_url, typegen_command=_generator(tmp_path, FAKE_GENERATOR))
    async with SchemaSyncNode(cfg) as node:
        event = await node.sync()
    assert event.event_type == "schema_updated"
    assert event.payload["reason"] == "generator changed"


async def test_external_generator_failure_is_a_schema_error_and_keeps_the_files(
    core_db_url: str, paths: Any, tmp_path: Path, sql: Callable[..., None]
) -> None:
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        await node.sync()
    before = {p: p.read_bytes() for p in (paths.types, paths.cache, paths.snapshot)}
    failing = "import sys\nprint('partial output')\nsys.exit('error: project not found')\n"
    cfg = paths.config(core_db_url, typegen_command=_generator(tmp_path, failing))
    sql(core_db_url, "ALTER TABLE public.nodes ADD COLUMN zone text")
    async with SchemaSyncNode(cfg) as node:
        event = await node.sync()
    assert event.event_type == "schema_error"
    assert event.payload["stage"] == "typegen"
    assert "exited with 1: error: project not found" in event.payload["error"]
    assert event.payload["stderr_tail"] == "error: project not found\n"
    assert event.payload["retry_in_s"] is None
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(x.name for x in paths.types.parent.iterdir()) == [paths.types.name]


async def test_unwritable_types_path_is_a_write_error(core_db_url: str, paths: Any) -> None:
    paths.root.joinpath("database").write_text("a file where a directory should be")
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        event = await node.sync()
    assert event.event_type == "schema_error"
    assert event.payload["stage"] == "write"
    assert "cannot create directory" in event.payload["error"]
    assert not paths.cache.exists()  # nothing claims the types were written


async def test_unreachable_database_is_a_connect_error(paths: Any) -> None:
    from ctas7_panel.netutil import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nope"
    async with SchemaSyncNode(paths.config(url)) as node:
        event = await node.sync()
    assert event.event_type == "schema_error"
    assert event.payload["stage"] == "connect"
    assert "cannot connect" in event.payload["error"]


# --- a crash in the middle of a sync -----------------------------------------------------------

CRASHING_SYNC = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from ctas7_panel.schema import artifacts
    from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig

    target, url, types, cache = sys.argv[1:5]

    def crash(tmp, dest):
        if Path(dest).resolve() == Path(target).resolve():
            os._exit(9)  # the process dies between the temp file and the rename

    artifacts.set_crash_hook(crash)
    config = SyncConfig(db_url=url, schema_path=types, hash_cache_path=cache)
    asyncio.run(SchemaSyncNode(config).sync())
    sys.exit(0)
    """
)


@pytest.mark.parametrize("crash_on", ["types", "cache"])
async def test_crash_between_temp_file_and_rename_leaves_the_previous_files(
    core_db_url: str, paths: Any, sql: Callable[..., None], crash_on: str
) -> None:
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        first = await node.sync()
    before = {p: p.read_bytes() for p in (paths.types, paths.cache)}
    sql(core_db_url, "ALTER TABLE public.tasks ADD COLUMN review_note text")
    target = paths.types if crash_on == "types" else paths.cache
    proc = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-c",
            CRASHING_SYNC,
            str(target),
            core_db_url,
            str(paths.types),
            str(paths.cache),
        ],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 9, proc.stderr.decode()
    assert paths.cache.read_bytes() == before[paths.cache]  # the commit mark is the old one
    if crash_on == "types":
        assert paths.types.read_bytes() == before[paths.types]
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        healed = await node.sync()
    assert healed.event_type == "schema_updated"
    assert healed.payload["old_hash"] == first.payload["new_hash"]
    assert "review_note" in paths.types.read_text()
    assert not [x for x in paths.root.rglob("*") if ".ctas7-tmp-" in x.name]
