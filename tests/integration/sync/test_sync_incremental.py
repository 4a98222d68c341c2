"""The sync node's incremental introspection against nodes reading the whole catalog.

One long-lived node (the default ``IncrementalInspector``, all four languages) runs a pass after
each DDL of a sequence (columns, tables with foreign keys, views over views, materialized
views, enums, renames, drops, comments, indexes, type changes, functions, partitions). Beside
it, a long-lived node with the whole-catalog ``builtin_inspector`` runs the same passes: both
must write byte-identical artifacts (every types file, snapshot record, hash cache, graph
delta) and emit the same event (hashes, diff, changes, impact). And after each DDL a fresh node
(nothing in memory), over the artifacts as they were before the DDL, must write the same
artifacts and event (but the impact, which it computes on another basis). The long-lived
node must actually have read incrementally: the steps that change only relations (not types,
functions or names) are "partial" reads, as the node counts them (``introspections``).
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from ctas7_panel.events import Event
from ctas7_panel.schema import trigger
from ctas7_panel.schema.inspection import IncrementalInspector, builtin_inspector
from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig

LANGUAGES = ("typescript", "python", "go", "swift")

BASE = """
create table public.author (id bigint primary key, name text not null);
create table public.book (id bigint primary key, title text, author_id bigint);
create table public.shelf (id int primary key, label text);
create view public.book_titles as select id, title from public.book;
"""

# (DDL, the read the long-lived node must have done: "partial", "full" or None: either)
STEPS: list[tuple[str, str | None]] = [
    ("alter table public.book add column pages int", "partial"),
    (
        "alter table public.book add constraint book_author_fk "
        "foreign key (author_id) references public.author (id)",
        "partial",
    ),
    ("create view public.long_books as select id, title, pages from public.book", "partial"),
    ("create view public.long_titles as select id, title from public.long_books", "partial"),
    (
        "create table public.loan (id int primary key, book_id bigint "
        "references public.book (id), shelf_id int references public.shelf (id))",
        "partial",
    ),
    ("comment on column public.loan.book_id is 'the book lent'", "partial"),
    ("create index loan_shelf on public.loan (shelf_id)", "partial"),
    ("alter table public.shelf alter column label set not null", "partial"),
    ("alter table public.author alter column name type varchar(200)", None),
    (
        "create materialized view public.shelf_counts as select shelf_id, count(*) n "
        "from public.loan group by shelf_id",
        "partial",
    ),
    ("create type public.genre as enum ('novel', 'essay')", "full"),
    ("alter table public.book add column genre public.genre", "partial"),
    ("alter table public.book rename column title to book_title", None),
    ("alter table public.shelf rename to bookcase", "full"),
    ("alter table public.book drop column pages cascade", None),
    ("alter table public.loan drop constraint loan_shelf_id_fkey", "partial"),
    ("alter table public.author add column born date", "partial"),
    ("drop table public.loan cascade", None),
    ("alter type public.genre add value 'poetry'", "full"),
    ("alter table public.author enable row level security", "partial"),
    (
        "create function public.books_by(a bigint) returns setof public.book language sql "
        "stable as 'select * from public.book where author_id = a'",
        "full",
    ),
    (
        "create table public.event (id int, at date not null, primary key (id, at)) "
        "partition by range (at)",
        "partial",
    ),
    (
        "create table public.event_2026 partition of public.event "
        "for values from ('2026-01-01') to ('2027-01-01')",
        None,
    ),
]


def _config(root: Path, url: str) -> SyncConfig:
    exts = {"typescript": "ts", "python": "py", "go": "go", "swift": "swift"}
    types = tuple((lang, str(root / f"types.{exts[lang]}")) for lang in LANGUAGES)
    return SyncConfig(db_url=url, hash_cache_path=str(root / ".hash"), types=types)


def _artifacts(root: Path, *, deltas: bool = True, named: Path | None = None) -> dict[str, bytes]:
    """Every file's bytes, paths made relative (the snapshot record names the types files);
    ``deltas=False``: not the impact tracker's graph deltas (``graph.tracker``), which a
    node that has no previous graph in memory does not write; ``named``: the directory the
    files name, when they were moved from it."""
    at = str(named or root).encode()
    return {
        str(p.relative_to(root)): p.read_bytes().replace(at, b"<root>")
        for p in sorted(root.rglob("*"))
        if p.is_file() and (deltas or p.parent == root)
    }


def _comparable(event: Event, root: Path, *, impact: bool = True) -> Any:
    """The payload without what differs between two runs (timing, trigger), paths relative;
    ``impact=False``: without the impact, which a node that has no previous graph in memory
    computes on another basis (``graph.tracker``: "partial", not "catalog")."""
    drop = ("duration_ms", "trigger") if impact else ("duration_ms", "trigger", "impact")
    payload = {k: v for k, v in event.payload.items() if k not in drop}
    text = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
    return (event.event_type, orjson.loads(text.replace(str(root), "<root>")))


def _same(mine: Any, theirs: Any, ddl: str) -> None:
    for key in sorted(set(mine[1]) | set(theirs[1])):
        assert mine[1].get(key) == theirs[1].get(key), (ddl, key)
    assert mine == theirs, ddl


async def test_each_ddl_pass_equals_a_pass_from_scratch(
    fresh_db_url: str, tmp_path: Path, sql: Callable[..., None]
) -> None:
    sql(fresh_db_url, BASE)
    live, full = tmp_path / "live", tmp_path / "full"
    before_ddl, after = tmp_path / "before", tmp_path / "after"
    live.mkdir()
    full.mkdir()
    whole = functools.partial(builtin_inspector, languages=LANGUAGES)
    kinds: list[tuple[str, str]] = []
    node = SchemaSyncNode(_config(live, fresh_db_url))
    # a second long-lived node reading the whole catalog every pass: same history, so the
    # same impact tracker state (impact basis, graph deltas) as the incremental one
    reference = SchemaSyncNode(_config(full, fresh_db_url), inspector=whole)
    async with node, reference:
        assert isinstance(node._inspector, IncrementalInspector)
        first = await node.sync()
        assert first.event_type == "schema_updated"
        assert node.introspections == {"full": 1}
        _same(_comparable(first, live), _comparable(await reference.sync(), full), "first")
        for ddl, expected in STEPS:
            shutil.copytree(live, before_ddl)
            before = dict(node.introspections)
            sql(fresh_db_url, ddl)

            event = await node.sync()
            assert event.event_type == "schema_updated", (ddl, event.payload)
            (kind,) = [k for k, n in node.introspections.items() if n != before.get(k, 0)]
            kinds.append((ddl, kind))
            if expected is not None:
                assert kind == expected, (ddl, kind, node._inspector.last_reason)
            assert event.payload["diff"] is not None, ddl
            assert event.payload["impact"] is not None, ddl

            _same(_comparable(event, live), _comparable(await reference.sync(), full), ddl)
            assert _artifacts(live) == _artifacts(full), ddl

            # a fresh node (nothing in memory) at the same paths (they are in the generator's
            # id), over the artifacts as they were before the DDL; then the live ones back
            live.rename(after)
            before_ddl.rename(live)
            async with SchemaSyncNode(_config(live, fresh_db_url), inspector=whole) as fresh:
                from_scratch = await fresh.sync()
            assert fresh.introspections == {"full": 1}
            mine = _artifacts(after, deltas=False, named=live)
            assert mine == _artifacts(live, deltas=False), ddl
            _same(
                _comparable(event, live, impact=False),
                _comparable(from_scratch, live, impact=False),
                ddl,
            )
            shutil.rmtree(live)
            after.rename(live)

            again = await node.sync()  # nothing changed since: only the versions asked
            assert again.event_type == "schema_nochange", ddl
            assert node.introspections["cached"] == len(kinds)

    counted = dict(node.introspections)
    partial = sum(1 for _, kind in kinds if kind == "partial")
    assert counted["partial"] == partial >= 12, kinds
    assert counted["full"] == 1 + sum(1 for _, kind in kinds if kind == "full")


async def test_an_unchanged_pass_is_a_cached_read_without_the_probe(
    fresh_db_url: str, tmp_path: Path, sql: Callable[..., None]
) -> None:
    """The reader's own version query sees that nothing moved (so the node does not run the
    catalog probe first); with a whole-catalog inspector the probe still saves the read."""
    sql(fresh_db_url, BASE)

    def config(name: str) -> SyncConfig:
        return SyncConfig(
            db_url=fresh_db_url,
            schema_path=str(tmp_path / f"{name}.ts"),
            hash_cache_path=str(tmp_path / f".{name}"),
        )

    async with SchemaSyncNode(config("a")) as node:
        assert (await node.sync()).event_type == "schema_updated"
        assert (await node.sync()).event_type == "schema_nochange"
        sql(fresh_db_url, "analyze", "alter table public.book add column pages int")
        assert (await node.sync()).event_type == "schema_updated"
        assert node.introspections == {"full": 1, "cached": 1, "partial": 1}
        types = (tmp_path / "a.ts").read_text()
    assert "pages: number | null" in types

    async with SchemaSyncNode(config("b"), inspector=builtin_inspector) as node:
        assert (await node.sync()).event_type == "schema_updated"
        assert (await node.sync()).event_type == "schema_nochange"
        assert node.introspections == {"full": 1, "memo": 1}


async def test_a_reconnect_reads_from_scratch(
    fresh_db_url: str, tmp_path: Path, sql: Callable[..., None]
) -> None:
    """A dropped connection (maybe another server now) makes the next read a full one."""
    sql(fresh_db_url, BASE)
    config = SyncConfig(
        db_url=fresh_db_url,
        schema_path=str(tmp_path / "t.ts"),
        hash_cache_path=str(tmp_path / ".hash"),
    )
    async with SchemaSyncNode(config) as node:
        await node.sync()
        sql(fresh_db_url, "alter table public.book add column pages int")
        await node.sync()
        await node.close()
        sql(fresh_db_url, "alter table public.book add column isbn text")
        event = await node.sync()
        assert event.event_type == "schema_updated"
        assert node.introspections == {"full": 2, "partial": 1}


async def test_the_watch_loop_reads_a_ddl_incrementally(
    fresh_db_url: str,
    tmp_path: Path,
    sql: Callable[..., None],
    recorder: Any,
    watch_running: Any,
) -> None:
    """Through the event trigger: each DDL's pass in the watch loop is a partial read, and the
    types files equal a whole-catalog node's."""
    sql(fresh_db_url, BASE)
    trigger.install(fresh_db_url)
    live = tmp_path / "live"
    config = _config(live, fresh_db_url)
    node = SchemaSyncNode(replace(config, poll_interval=60.0), on_event=recorder)
    async with node, watch_running(node):
        await recorder.wait_for(lambda e: e.payload.get("trigger") == "connect")
        for ddl in (
            "alter table public.book add column pages int",
            "create view public.long_books as select id, title, pages from public.book",
        ):
            mark = len(recorder.events)
            await asyncio.to_thread(sql, fresh_db_url, ddl)
            update = await recorder.wait_for(
                lambda e: e.event_type == "schema_updated", after=mark, timeout=10
            )
            assert update.payload["trigger"] == "notify"
        assert node.introspections.get("partial", 0) == 2, node.introspections
        assert node.introspections["full"] == 1
    full = tmp_path / "full"
    async with SchemaSyncNode(
        _config(full, fresh_db_url),
        inspector=functools.partial(builtin_inspector, languages=LANGUAGES),
    ) as reference:
        await reference.sync()
    assert _artifacts(live, deltas=False) == _artifacts(full, deltas=False)


async def test_the_next_pass_does_not_parse_what_this_one_wrote(
    fresh_db_url: str, tmp_path: Path, sql: Callable[..., None], monkeypatch: Any
) -> None:
    """The snapshot record a pass writes is kept in memory for the next pass (no re-parse);
    a change of the file after that is still seen."""
    from ctas7_panel.schema import sync as sync_module

    parsed: list[Path] = []
    real = sync_module.read_record

    def counting(path: Path) -> Any:
        parsed.append(path)
        return real(path)

    monkeypatch.setattr(sync_module, "read_record", counting)
    sql(fresh_db_url, BASE)
    config = SyncConfig(
        db_url=fresh_db_url,
        schema_path=str(tmp_path / "t.ts"),
        hash_cache_path=str(tmp_path / ".hash"),
    )
    async with SchemaSyncNode(config) as node:
        assert (await node.sync()).event_type == "schema_updated"
        parsed.clear()
        sql(fresh_db_url, "alter table public.book add column pages int")
        updated = await node.sync()
        assert updated.event_type == "schema_updated"
        assert updated.payload["diff"]["columns_added"] == ["public.book.pages"]
        assert (await node.sync()).event_type == "schema_nochange"
        assert parsed == []
        config.snapshot_file.write_bytes(b'{"format": "ctas7-sy')  # damaged by hand
        again = await node.sync()
        assert parsed == [config.snapshot_file]
        assert again.event_type == "schema_updated"
        assert again.payload["reason"].startswith("snapshot corrupt")
