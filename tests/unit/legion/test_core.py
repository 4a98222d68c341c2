"""Legion's pure core: registry from snapshots, query validation and SQL, reload requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from ctas7_panel import events as ev
from ctas7_panel.errors import EventError, SchemaError, UsageError
from ctas7_panel.legion import Dependency, Query, Task, TaskContext, registry_from_snapshot
from ctas7_panel.legion.query import compile_query
from ctas7_panel.legion.registry import TableRegistry, type_family
from ctas7_panel.legion.reload import node_capabilities, reload_request
from ctas7_panel.legion.tasks import CallableSpec, dependencies


def col(name: str, type_: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "nullable": True, "default": None, "identity": None,
            "generated": None, **kw}  # fmt: skip


# The shape of ctas7_panel.schema.snapshot.to_snapshot (trimmed to what Legion reads).
SNAPSHOT: dict[str, Any] = {
    "format": 1,
    "schemas": [{"name": "public", "comment": None}],
    "table_count": 2,
    "relations": [
        {
            "schema": "public",
            "name": "tasks",
            "kind": "table",
            "columns": [
                col("id", "bigint", nullable=False, identity="ALWAYS"),
                col("name", "text", nullable=False),
                col("priority", "smallint", nullable=False, default="0"),
                col("payload", "jsonb"),
                col("tags", "text[]"),
                col("total", "numeric(12,2)", generated="(priority * 2)"),
                col("due", "timestamp with time zone"),
            ],
        },
        {"schema": "ops", "name": "runs", "kind": "view", "columns": [col("id", "uuid")]},
    ],
}


def registry(h: str = "a" * 64) -> TableRegistry:
    return registry_from_snapshot(SNAPSHOT, h)


def test_registry_reads_the_schema_package_snapshot() -> None:
    reg = registry()
    assert len(reg) == 2 and reg.column_count == 8
    tasks = reg.table("tasks")
    assert tasks.qualified == "public.tasks"
    ident = tasks.column("id")
    assert ident is not None and ident.identity == "ALWAYS" and not ident.writable
    assert not ident.nullable
    total = tasks.column("total")
    assert total is not None and total.generated and not total.writable
    assert reg.table("ops.runs").kind == "view"
    assert reg.get("runs") is None  # bare names mean public


def test_registry_reads_only_the_canonical_snapshot_and_names_what_is_wrong() -> None:
    assert len(registry_from_snapshot({"format": 1, "relations": []}, "h")) == 0
    record = {"format": "ctas7-sync-snapshot/1", "fingerprint": "f" * 64, "snapshot": SNAPSHOT}
    with pytest.raises(SchemaError, match=r"no 'relations' list.*ctas7 schema sync"):
        registry_from_snapshot(record, None)  # the record is unwrapped by schema.snapshot_file
    with pytest.raises(SchemaError, match="no 'relations' list"):
        registry_from_snapshot({"tables": {"public.t": {"columns": {"a": "integer"}}}}, "h")
    with pytest.raises(SchemaError, match="relation #0 is not an object"):
        registry_from_snapshot({"relations": [{"name": "t", "columns": []}]}, "h")
    bad_column = {"relations": [{"schema": "public", "name": "t", "columns": [{"type": "int"}]}]}
    reg = registry_from_snapshot(bad_column, "h")  # columns are read on first lookup
    with pytest.raises(SchemaError, match=r"column #0 of public\.t is not an object with a 'name'"):
        reg.table("t")


def test_registry_from_a_snapshot_file_read_by_the_one_loader(tmp_path: Path) -> None:
    from ctas7_panel.schema.snapshot import fingerprint
    from ctas7_panel.schema.snapshot_file import SnapshotRecord, read_snapshot_file

    fp = fingerprint(SNAPSHOT)
    path = tmp_path / "record.json"
    path.write_bytes(SnapshotRecord(fp, "f" * 64, "builtin", 2, SNAPSHOT).encode())
    loaded = read_snapshot_file(path)
    reg = registry_from_snapshot(loaded.snapshot, loaded.fingerprint)
    assert reg.schema_hash == fp and reg.names() == ["public.tasks", "ops.runs"]


def test_missing_table_and_column_errors_name_them_and_the_hash() -> None:
    reg = registry("0123456789abcdef" * 4)
    with pytest.raises(SchemaError, match=r"table 'public\.gone' is not in the schema"):
        reg.check("gone")
    with pytest.raises(SchemaError) as err:
        reg.check("tasks", ["name", "nope"])
    assert "column 'nope' of table 'public.tasks'" in str(err.value)
    assert "0123456789ab" in str(err.value)
    assert reg.broken([Dependency.of("tasks", ["id"])]) is None
    assert reg.broken([Dependency.of("tasks", ["zzz"])]) is not None


@pytest.mark.parametrize(
    ("type_name", "family"),
    [
        ("integer", "int"),
        ("int8", "int"),
        ("numeric(12,2)", "number"),
        ("double precision", "number"),
        ("character varying(50)", "text"),
        ("boolean", "bool"),
        ("jsonb", "json"),
        ("text[]", "array"),
        ("_int4", "array"),
        ("uuid", "other"),
        ("public.mood", "other"),
    ],
)
def test_type_families(type_name: str, family: str) -> None:
    assert type_family(type_name) == family


def sql_of(q: Query) -> tuple[str, tuple[Any, ...]]:
    c = compile_query(q, registry())
    return c.statement.as_string(None), c.params


def test_select_compiles_with_quoted_identifiers_and_parameters() -> None:
    text, params = sql_of(
        Query(
            "tasks",
            columns=("id", "name"),
            where={"priority": 3, "due": None},
            order_by=("-id",),
            limit=10,
        )
    )
    assert text == (
        'SELECT "id", "name" FROM "public"."tasks" WHERE "priority" = %s AND "due" IS NULL '
        'ORDER BY "id" DESC LIMIT %s'
    )
    assert params == (3, 10)
    text, _ = sql_of(Query("tasks"))
    assert text.startswith('SELECT "id", "name", "priority", "payload"')


def test_writes_compile_and_wrap_json() -> None:
    text, params = sql_of(
        Query("tasks", op="insert", values={"name": "n", "payload": {"a": 1}}, returning=("id",))
    )
    assert text == 'INSERT INTO "public"."tasks" ("name", "payload") VALUES (%s, %s) RETURNING "id"'
    assert params[0] == "n" and isinstance(params[1], Jsonb)
    text, params = sql_of(Query("tasks", op="update", values={"priority": 2}, where={"id": 1}))
    assert text == 'UPDATE "public"."tasks" SET "priority" = %s WHERE "id" = %s'
    assert params == (2, 1)
    text, _ = sql_of(Query("tasks", op="delete", where={"id": 1}))
    assert text == 'DELETE FROM "public"."tasks" WHERE "id" = %s'
    text, _ = sql_of(Query("tasks", op="count"))
    assert text == 'SELECT count(*) AS count FROM "public"."tasks"'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (Query("tasks", columns=("nope",)), "column 'nope' of table 'public.tasks'"),
        (Query("tasks", order_by=("-ghost",)), "column 'ghost'"),
        (Query("tasks", op="insert", values={"name": 1}), "is text: got int"),
        (Query("tasks", op="insert", values={"priority": "1"}), "is smallint"),
        (Query("tasks", op="insert", values={"priority": True}), "is smallint"),
        (Query("tasks", op="insert", values={"name": None}), "is NOT NULL"),
        (Query("tasks", op="insert", values={"id": 1}), "identity column"),
        (Query("tasks", op="insert", values={"total": 1}), "generated"),
        (Query("tasks", op="insert", values={"due": object()}), "cannot pass a object"),
        (Query("missing"), "table 'public.missing'"),
    ],
)
def test_invalid_queries_fail_with_the_name(query: Query, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        compile_query(query, registry())


def test_query_usage_errors() -> None:
    with pytest.raises(UsageError, match="op 'drop'"):
        Query("t", op="drop")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="needs values"):
        Query("t", op="insert")
    with pytest.raises(UsageError, match="refusing to touch every row"):
        Query("t", op="delete")
    with pytest.raises(UsageError, match="limit"):
        Query("t", limit=0)


def legion_event(**payload: Any) -> Any:
    raw = ev.schema_updated(new_hash="h", old_hash=None, schema_path="s.ts", table_count=1)
    return raw.with_payload(payload)


def test_reload_request_reads_both_payload_forms() -> None:
    raw = ev.schema_updated(new_hash="h1", old_hash=None, schema_path="s.ts", table_count=1)
    r = reload_request(raw)
    assert r is not None and r.new_hash == "h1" and r.schema_path == "s.ts" and r.reload_required
    legion = legion_event(
        action="reload_database_types",
        schema_path="s.ts",
        new_hash="h2",
        affected_systems=["LegionExecutionEngine"],
        reload_required=False,
    )
    r = reload_request(legion)
    assert r is not None and r.new_hash == "h2" and not r.reload_required
    assert r.affected_systems == ("LegionExecutionEngine",)
    assert reload_request(legion_event(action="something_else")) is None
    assert reload_request(ev.qa5_validation(status="ok")) is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"new_hash": 3}, "payload.new_hash"),
        ({"reload_required": "yes"}, "payload.reload_required"),
        ({"affected_systems": "Legion"}, "payload.affected_systems"),
        ({"snapshot_path": ["x"]}, "payload.snapshot_path"),
    ],
)
def test_reload_request_names_the_bad_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(EventError) as err:
        reload_request(legion_event(**payload))
    assert err.value.field == field


def test_context_moves_to_a_new_schema_and_is_invalidated_when_a_column_goes() -> None:
    async def runner(ctx: TaskContext, q: Query) -> tuple[list[dict[str, Any]], int]:
        return [], 0

    old = registry("1" * 64)
    ctx = TaskContext(Task("t"), schema_hash=old.schema_hash, runner=runner)
    ctx.deps.add(Dependency.of("tasks", ["name"]))
    assert ctx.move_to(registry("2" * 64)) is None
    assert ctx.schema_hash == "2" * 64 and ctx.hash_history == ["1" * 64, "2" * 64]

    without_name = {
        "relations": [{"schema": "public", "name": "tasks", "columns": [col("id", "bigint")]}]
    }
    err = ctx.move_to(registry_from_snapshot(without_name, "3" * 64))
    assert err is not None and "column 'name'" in str(err) and "333333333333" in str(err)
    with pytest.raises(SchemaError, match="column 'name'"):
        ctx.checkpoint()


def test_capabilities_list_runnable_and_blocked_callables() -> None:
    ok = CallableSpec("ok", lambda ctx: None, dependencies({"tasks": ["id"]}))
    blocked = CallableSpec("blocked", lambda ctx: None, dependencies({"tasks": ["gone"]}))
    caps = node_capabilities("n1", registry(), [blocked, ok])
    assert caps["callables"] == ["ok"]
    assert "column 'gone'" in caps["blocked_callables"]["blocked"]
    assert caps["relations"] == {"table": 1, "view": 1}
    assert caps["columns"] == 8
