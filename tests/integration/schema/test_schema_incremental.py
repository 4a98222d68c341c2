"""The incremental snapshot (``IncrementalReader``, behind ``SchemaHasher``) against a read
from scratch, after random DDL sequences.

Each step applies one to three random statements (tables, columns, renames, types, defaults,
NOT NULL, keys in both directions, indexes, comments, views over views, materialized views,
partitions, enums, functions, RLS, grants, a schema outside the included ones that a view
reads, same-named relations in two schemas, ...; a statement the server refuses is skipped),
then requires the incremental result to equal a full read: the canonical bytes, so the
fingerprint, and the snapshot. It also requires that most reads were partial: a reader that
always read everything would pass the equality but not this.
"""

from __future__ import annotations

import random

import orjson
import psycopg
import pytest

from ctas7_panel import pgtools
from ctas7_panel.errors import SchemaError
from ctas7_panel.schema import pqlite
from ctas7_panel.schema.hashing import SchemaHasher
from ctas7_panel.schema.introspect import introspect
from ctas7_panel.schema.introspect_incremental import (
    IncrementalReader,
    changed_owners,
    needs_full_read,
    parse_versions,
)
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.snapshot import canonical_json, fingerprint, to_snapshot

OPTIONS = TypegenOptions(schemas=("public", "api"))

BASE = """
create schema api;
create schema other;
create table public.t1 (id int primary key, a int, b text);
create table public.t2 (id int primary key, a int references public.t1 (id), b text);
create table public.t3 (id int, code text, a int, b text, primary key (id, code));
create table other.o1 (id int primary key, a int, b text);
create table api.t1 (id int primary key, a int);
create view public.v1 as select id, a, b from public.t2;
create view public.v2 as select id, a from public.v1;
create view api.vo as select o.id, o.a, t.b from other.o1 o join public.t1 t on t.id = o.a;
create type public.mood as enum ('low', 'high');
create function public.f1(x int) returns setof public.t1 language sql
  as 'select * from public.t1 where id = x';
create function public.trg() returns trigger language plpgsql as 'begin return null; end';
"""

TABLES = ["public.t1", "public.t2", "public.t3", "public.t4", "api.t1", "other.o1"]
COLUMNS = ["a", "b", "c", "d"]
TYPES = ["int", "bigint", "text", "public.mood", "int[]", "jsonb"]


def _statement(rnd: random.Random, n: int) -> str:
    t = rnd.choice(TABLES)
    t2 = rnd.choice(TABLES)
    c = rnd.choice(COLUMNS)
    c2 = rnd.choice(COLUMNS)
    bare = t.split(".")[1]
    kind = rnd.randrange(39)
    return [
        f"create table {t} (id int primary key, a int, b text)",
        f"drop table {t} cascade",
        f"alter table {t} add column {c} {rnd.choice(TYPES)}",
        f"alter table {t} drop column {c} cascade",
        f"alter table {t} rename column {rnd.choice([c, 'id', 'id2'])} to "
        f"{rnd.choice([c2, 'id', 'id2'])}",
        f"alter table {t} rename to {rnd.choice(['t1', 't4', 't5', 'o1'])}",
        f"alter table {t} alter column {c} set not null",
        f"alter table {t} alter column {c} drop not null",
        f"alter table {t} alter column {c} set default {n}",
        f"alter table {t} alter column {c} drop default",
        f"alter table {t} alter column {c} type text",
        f"comment on table {t} is 'c{n}'",
        f"comment on column {t}.{c} is {rnd.choice(['null', repr(f'c{n}')])}",
        f"create index {bare}_{c}_{n % 3} on {t} ({c})",
        f"drop index {t.split('.')[0]}.{bare}_{c}_{n % 3}",
        f"alter table {t} add constraint {bare}_{c}_fk foreign key ({c}) references {t2} "
        f"({rnd.choice(['id', 'id2', 'a'])})",
        f"alter table {t} drop constraint {bare}_{c}_fk",
        f"alter table {t} add constraint {bare}_{c}_uq unique ({c})",
        f"create or replace view public.v{n % 4} as select * from {t}",
        f"create view public.w{n % 3} as select * from public.v{rnd.randrange(4)}",
        f"drop view public.v{n % 4} cascade",
        f"create materialized view public.m{n % 2} as select id, {c} from {t}",
        f"drop materialized view public.m{n % 2}",
        f"alter type public.mood add value 'v{n}'",
        f"create function public.f{n % 3}() returns setof {t} language sql as 'select * from {t}'",
        f"comment on function public.f1(int) is 'f{n}'",
        f"alter table {t} enable row level security",
        f"grant select on {t} to public",
        f"alter table {t} set schema {rnd.choice(['public', 'api', 'other'])}",
        f"create table public.p{n % 2} (id int, k int, a int) partition by range (k)",
        f"create table public.p{n % 2}_{n} partition of public.p{n % 2} "
        f"for values from ({n * 10}) to ({n * 10 + 10})",
        f"alter table {t} add column g{n % 2} int generated always as (id * 2) stored",
        f"create sequence public.s{n % 2}; alter table {t} alter column {c} "
        f"set default nextval('public.s{n % 2}')",
        "analyze",
        f"alter table {t} add constraint {bare}_pk2 primary key ({c})",
        f"create trigger w{n % 2} instead of {rnd.choice(['insert', 'update'])} on "
        f"public.{rnd.choice(['v1', 'v2', 'w0', 'w1'])} for each row execute function public.trg()",
        f"drop trigger w{n % 2} on public.{rnd.choice(['v1', 'v2', 'w0', 'w1'])}",
        f"alter table {t} disable trigger all",
        f"alter table {t} alter column {c} set statistics {n}",
    ][kind]


def _scratch(url: str) -> bytes:
    with pgtools.connect(url) as conn:
        return canonical_json(to_snapshot(introspect(conn, OPTIONS)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_ddl_sequences_keep_the_from_scratch_hash(fresh_db_url: str, seed: int) -> None:
    pgtools.apply_sql(fresh_db_url, BASE)
    rnd = random.Random(seed)
    reader = IncrementalReader(OPTIONS)
    admin = pgtools.connect(fresh_db_url)
    conn = pqlite.Connection(fresh_db_url) if seed % 2 else pgtools.connect(fresh_db_url)
    applied = 0
    try:
        first = reader.read(conn)
        assert first.canonical == _scratch(fresh_db_url)
        for step in range(100):
            for _ in range(rnd.choice([1, 1, 1, 2, 3])):
                sql = _statement(rnd, step)
                try:
                    admin.execute(sql)
                    applied += 1
                except psycopg.Error:  # the server refused it (autocommit: nothing applied)
                    pass
            got = reader.read(conn)
            want = _scratch(fresh_db_url)
            assert got.canonical == want, f"seed {seed}, step {step}: {sql}"
            assert got.snapshot == orjson.loads(want)
            assert got.fingerprint == fingerprint(got.snapshot)
    finally:
        conn.close()
        admin.close()
    assert applied >= 30, applied
    # many reads after a DDL touched only some relations
    print(f"seed {seed}: {applied} statements, {reader.partial_reads} partial reads, "
          f"{reader.full_reads} full reads")  # fmt: skip
    assert reader.partial_reads >= 10, (reader.partial_reads, reader.full_reads)


def test_hasher_reads_partially_after_table_ddl(fresh_db_url: str) -> None:
    pgtools.apply_sql(fresh_db_url, BASE)
    hasher = SchemaHasher(OPTIONS)
    with pgtools.connect(fresh_db_url) as admin, pqlite.Connection(fresh_db_url) as conn:
        first = hasher.fingerprint(conn)
        assert hasher.fingerprint(conn) == first and hasher.reads == 1
        admin.execute("comment on table public.t2 is 'x'")
        second = hasher.fingerprint(conn)
        assert second != first and hasher.partial_reads == 1 and hasher.full_reads == 1
        admin.execute("create function public.g() returns int language sql as 'select 1'")
        assert hasher.fingerprint(conn) != second
        assert hasher.full_reads == 2  # a function is not a relation: read everything
        assert hasher.fingerprint(conn) == fingerprint(to_snapshot(introspect(admin, OPTIONS)))


def test_version_items_and_full_read_reasons() -> None:
    key, items = parse_versions('0:5:10,16400:3:7,16401:1:2|9:19|150000|public, "a|b"')
    assert key == '9:19|150000|public, "a|b"'
    assert items == {"0:5:10", "16400:3:7", "16401:1:2"}
    assert parse_versions("=|9:19|150000|public") == ("9:19|150000|public", None)
    _, later = parse_versions("0:5:10,16400:3:8,16402:1:1|9:20|150000|public")
    assert later is not None
    assert changed_owners(items, later) == {16400, 16401, 16402}
    names = {16400: (2200, "t", "r"), 16401: (2200, "c", "c")}
    assert needs_full_read({0}, names, []) is not None
    assert needs_full_read({16400}, names, [[16400, 2200, "t", "r"]]) is None
    assert "renamed" in (needs_full_read({16400}, names, [[16400, 2200, "u", "r"]]) or "")
    assert "composite" in (needs_full_read({16401}, names, [[16401, 2200, "c", "c"]]) or "")
    # created beside a same-named relation of another schema: printing of references changes
    rows = [[16402, 2200, "t2", "r"], [16500, 16399, "t2", "r"]]
    assert needs_full_read({16402}, names, rows) is not None
    assert needs_full_read({16402}, names, rows[:1]) is None


def test_a_failed_read_forgets_and_the_next_is_full(fresh_db_url: str) -> None:
    pgtools.apply_sql(fresh_db_url, BASE)
    reader = IncrementalReader(OPTIONS)
    conn = pgtools.connect(fresh_db_url)
    reader.read(conn)
    conn.close()
    with pytest.raises(SchemaError, match="cannot read the database catalog"):
        reader.read(conn)
    with pgtools.connect(fresh_db_url) as again:
        again.execute("comment on table public.t1 is 'after the failure'")
        got = reader.read(again)
        assert got.kind == "full" and reader.full_reads == 2
        assert got.canonical == _scratch(fresh_db_url)
