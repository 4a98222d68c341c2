"""Schema details from the sync node's real snapshot file (a fresh PostgreSQL database)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from ctas7_panel import pgtools
from ctas7_panel.dashboard.hub import Hub
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.schema import snapshot
from ctas7_panel.schema.artifacts import default_snapshot_path, read_snapshot
from ctas7_panel.schema.snapshot_file import read_snapshot_file
from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig
from ctas7_panel.settings import Settings
from ctas7_panel.streams.bus import MemoryBus

COLUMN_COUNTS = """
select c.relname, count(a.attnum)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
group by c.relname
"""


def column_counts(url: str) -> tuple[tuple[str, int], ...]:
    """What the catalog says, asked independently of the schema package."""
    with pgtools.connect(url) as conn:
        return tuple(sorted((str(name), int(n)) for name, n in conn.execute(COLUMN_COUNTS)))


async def synced(url: str, tmp_path: Path) -> tuple[SyncConfig, str]:
    """One real sync pass: types file, hash cache and snapshot record written by the node."""
    config = SyncConfig(
        db_url=url,
        schema_path=str(tmp_path / "supabase_schema.ts"),
        hash_cache_path=str(tmp_path / ".last_schema_hash"),
    )
    async with SchemaSyncNode(config) as node:
        event = await node.sync()
    assert event.event_type == "schema_updated", event.payload
    return config, str(event.payload["new_hash"])


async def test_tables_and_column_counts_come_from_the_sync_nodes_snapshot_record(
    fresh_db_url: str, tmp_path: Path
) -> None:
    apply_migrations(fresh_db_url)
    pgtools.apply_sql(fresh_db_url, "create view active_nodes as select 1 as one, 2 as two")
    config, _ = await synced(fresh_db_url, tmp_path)
    loaded = read_snapshot(default_snapshot_path(config.hash_cache_path))
    assert loaded.ok and loaded.value["format"] == "ctas7-sync-snapshot/1"
    expected = column_counts(fresh_db_url)
    assert len(expected) == 8 and ("active_nodes", 2) in expected  # 7 tables and the view
    # the one loader reads the record written next to the cache, and a bare snapshot alike
    record = read_snapshot_file(default_snapshot_path(config.hash_cache_path))
    assert record.record is not None and snapshot.column_counts(record.snapshot) == expected
    bare = tmp_path / "bare.json"
    bare.write_bytes(orjson.dumps(loaded.value["snapshot"]))
    assert snapshot.column_counts(read_snapshot_file(bare).snapshot) == expected


async def test_the_hub_fills_the_schema_panel_from_the_snapshot_and_follows_a_change(
    fresh_db_url: str, tmp_path: Path
) -> None:
    apply_migrations(fresh_db_url)
    config, fingerprint = await synced(fresh_db_url, tmp_path)
    settings = Settings(hash_cache_path=config.hash_cache_path)
    async with Hub(MemoryBus(), None, settings, tick_s=0.02) as hub:
        # nothing in the store: the hash from the cache, the tables from the snapshot
        async with asyncio.timeout(5):
            while hub.digest.schema.tables_hash != hub.digest.schema.hash:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        schema = hub.digest.schema
        assert schema.hash == fingerprint
        assert schema.tables == column_counts(fresh_db_url) and len(schema.tables) == 7
        assert schema.table_count == 7
        # the schema changes: the event carries no tables, the snapshot file has the new ones
        pgtools.apply_sql(fresh_db_url, "alter table tasks add column note text")
        async with SchemaSyncNode(config, bus=hub.bus) as node:
            event = await node.sync()
        assert event.event_type == "schema_updated" and "tables" not in event.payload
        async with asyncio.timeout(5):
            while hub.digest.schema.tables_hash != event.payload["new_hash"]:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert hub.digest.schema.tables == column_counts(fresh_db_url)
