"""SchemaHasher: the same fingerprint as a full read, re-read only when the catalog changed."""

from __future__ import annotations

import pytest

from ctas7_panel import pgtools
from ctas7_panel.schema import pqlite
from ctas7_panel.schema.hashing import SchemaHasher
from ctas7_panel.schema.introspect import introspect
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

OPTIONS = TypegenOptions(schemas=("public",))
CHANGES = [
    "alter table public.nodes add column zone text",
    "alter table public.nodes rename column zone to area",
    "comment on column public.nodes.area is 'where'",
    "create index nodes_area_idx on public.nodes (area)",
    "create type public.level as enum ('low')",
    "alter type public.level add value 'high'",
    "create function public.f() returns int language sql as 'select 1'",
    "create or replace function public.f() returns int language sql as 'select 2'",
    "alter table public.nodes alter column area set not null",
    "drop index public.nodes_area_idx",
]


@pytest.mark.parametrize("driver", ["psycopg", "libpq"])
def test_rereads_exactly_when_the_schema_changed(fresh_db_url: str, goldens, driver: str) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "ctas7_core")
    conn = pgtools.connect(fresh_db_url) if driver == "psycopg" else pqlite.Connection(fresh_db_url)
    check = pgtools.connect(fresh_db_url)
    hasher = SchemaHasher(OPTIONS)
    try:
        first = hasher.fingerprint(conn)
        assert first == fingerprint(to_snapshot(introspect(check, OPTIONS)))
        assert hasher.fingerprint(conn) == first and hasher.reads == 1
        check.execute("analyze")  # statistics only: no re-read
        assert hasher.fingerprint(conn) == first and hasher.reads == 1
        seen = {first}
        for i, ddl in enumerate(CHANGES, start=2):
            check.execute(ddl)
            now = hasher.fingerprint(conn)
            assert hasher.reads == i, ddl
            assert now == fingerprint(to_snapshot(introspect(check, OPTIONS))), ddl
            assert now not in seen, ddl
            seen.add(now)
    finally:
        conn.close()
        check.close()
