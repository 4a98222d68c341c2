"""Fingerprints on a real server: stable across databases, sensitive to indexes and comments."""

from __future__ import annotations

from ctas7_panel import pgtools
from ctas7_panel.schema import TypegenOptions, diff_snapshots, inspect_database

OPTIONS = TypegenOptions(schemas=("public",))


def test_same_sql_in_two_databases_gives_the_same_fingerprint(pg_admin_url: str, goldens) -> None:  # type: ignore[no-untyped-def]
    states = []
    for _ in range(2):
        with pgtools.temporary_database(pg_admin_url) as url:
            goldens.load(url, "feature_matrix")
            states.append(inspect_database(url, TypegenOptions(schemas=("public", "inventory"))))
    a, b = states
    assert a.fingerprint == b.fingerprint
    assert a.types_hash == b.types_hash
    assert a.types == goldens.expected("feature_matrix", "0.99.0")
    assert a.table_count == 16
    assert set(a.durations) == {"connect", "introspect", "snapshot", "typegen"}


def test_index_and_comment_change_the_fingerprint_not_the_types(fresh_db_url: str, goldens) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "ctas7_core")
    before = inspect_database(fresh_db_url, OPTIONS)
    pgtools.apply_sql(fresh_db_url, "create index nodes_role_idx on public.nodes (role);")
    indexed = inspect_database(fresh_db_url, OPTIONS)
    assert indexed.types_hash == before.types_hash
    assert indexed.fingerprint != before.fingerprint
    (entry,) = diff_snapshots(before.snapshot, indexed.snapshot).entries
    assert (entry.kind, entry.name, entry.details) == (
        "table",
        "public.nodes",
        ("index added: nodes_role_idx",),
    )
    pgtools.apply_sql(fresh_db_url, "comment on column public.nodes.role is 'what it does';")
    commented = inspect_database(fresh_db_url, OPTIONS)
    assert commented.types_hash == before.types_hash
    assert commented.fingerprint != indexed.fingerprint
    (entry,) = diff_snapshots(indexed.snapshot, commented.snapshot).entries
    assert entry.name == "public.nodes.role" and entry.details[0].startswith("comment:")


def test_type_changes_change_both_and_show_in_the_diff(fresh_db_url: str, goldens) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "ctas7_core")
    before = inspect_database(fresh_db_url, OPTIONS)
    pgtools.apply_sql(
        fresh_db_url,
        "alter table public.nodes add column zone text not null default 'a';"
        "alter table public.tasks alter column description set not null;"
        "alter type public.node_role add value 'spare';"
        "create table public.extra (id int primary key);",
    )
    after = inspect_database(fresh_db_url, OPTIONS)
    assert after.fingerprint != before.fingerprint
    assert after.types_hash != before.types_hash
    result = diff_snapshots(before.snapshot, after.snapshot)
    found = {(e.kind, e.name, e.action) for e in result.entries}
    assert ("column", "public.nodes.zone", "added") in found
    assert ("column", "public.tasks.description", "changed") in found
    assert ("table", "public.extra", "added") in found
    (enum,) = result.of("enum")
    assert enum.details == ("labels added: spare",)
    assert result.summary()["tables_added"] == ["public.extra"]
