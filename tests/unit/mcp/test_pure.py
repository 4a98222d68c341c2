"""The pure parts of the MCP server: schema views, the roles, what a change notifies, the
throttle."""

from __future__ import annotations

import pytest

from ctas7_panel.access import Tokens
from ctas7_panel.errors import UsageError
from ctas7_panel.events import Event
from ctas7_panel.mcp import views
from ctas7_panel.mcp.access import Access
from ctas7_panel.mcp.live import TABLES, Throttle, changed_entries, schema_uris

SNAP = {
    "table_count": 2,
    "view_count": 1,
    "relations": [
        {
            "schema": "public",
            "name": "tasks",
            "kind": "table",
            "columns": [
                {"name": "id", "type": "uuid", "nullable": False, "default": None},
                {"name": "note", "type": "text", "nullable": True, "default": None},
            ],
            "constraints": [],
            "indexes": [],
            "rls_enabled": True,
        },
        {
            "schema": "public",
            "name": "task_log",
            "kind": "table",
            "columns": [],
            "constraints": [],
            "indexes": [],
        },
        {
            "schema": "auth",
            "name": "users",
            "kind": "view",
            "columns": [],
            "constraints": [],
            "indexes": [],
        },
    ],
    "relationships": [
        ["task_log_task_fkey", "public", "task_log", ["task"], False, "public", "tasks", ["id"]],
    ],
}


def test_table_rows_compact_filters_and_columns() -> None:
    rows = views.table_rows(SNAP)
    assert [(r["schema"], r["name"]) for r in rows] == [
        ("auth", "users"),
        ("public", "task_log"),
        ("public", "tasks"),
    ]
    assert rows[2] == {
        "schema": "public",
        "name": "tasks",
        "kind": "table",
        "columns": 2,
        "rls": True,
    }
    assert [r["name"] for r in views.table_rows(SNAP, match="TASK")] == ["task_log", "tasks"]
    assert [r["name"] for r in views.table_rows(SNAP, match="t?sks")] == ["tasks"]
    assert views.table_rows(SNAP, schema="auth", columns=True)[0]["columns"] == []
    assert views.table_rows(SNAP, schema="public", columns=True)[1]["columns"] == [
        "id uuid not null",
        "note text",
    ]


def test_find_relation_suggests_close_names() -> None:
    with pytest.raises(UsageError, match=r"did you mean public\.tasks"):
        views.find_relation(SNAP, "public", "Tasks")
    with pytest.raises(UsageError, match="list them with list_tables"):
        views.find_relation(SNAP, "public", "zzz")


def test_relationships_in_and_out() -> None:
    assert (
        views.relationships_of(SNAP, "public", "tasks")["incoming"][0]["from"] == "public.task_log"
    )
    assert views.relationships_of(SNAP, "public", "task_log")["outgoing"][0]["to"] == "public.tasks"


def test_resolve_prefix() -> None:
    known = ["abcdef1234", "abcdef9999", "0123456789"]
    assert views.resolve_prefix("0123456", known) == "0123456789"
    assert views.resolve_prefix("fffffff", known) is None
    with pytest.raises(UsageError, match="ambiguous"):
        views.resolve_prefix("abcdef", known)
    assert views.looks_like_hash("abcdef0") and not views.looks_like_hash("current")


def test_recorded_impact_and_diff_of_exactly_that_change() -> None:
    summary = {"total": 1, "breaking": 1, "dependents": [{"kind": "view", "name": "public.v"}]}

    def updated(old: str, new: str, **extra: object) -> Event:
        payload = {"status": "updated", "old_hash": old, "new_hash": new, "table_count": 1}
        payload["schema_path"] = "x.ts"
        return Event.create("schema_updated", {**payload, **extra}, source_node="schema_sync")

    events = [
        updated("b" * 64, "c" * 64, impact="not a mapping"),
        updated("a" * 64, "b" * 64, impact=summary, changes={"entries": []}),
    ]
    assert views.recorded_impact(events, "a" * 64, "b" * 64) == summary
    assert views.recorded_impact(events, "b" * 64, "c" * 64) is None  # malformed: left out
    assert views.recorded_impact(events, "a" * 64, "c" * 64) is None  # no such single change
    assert views.stored_diff(events, "a" * 64, "b" * 64) == {"entries": []}


def test_roles() -> None:
    open_ = Access()
    assert open_.role({}) == "read" and open_.role(None) == "read"
    guarded = Access(Tokens("t" * 20, "a" * 20))
    assert guarded.role({}) is None
    assert guarded.role({"authorization": "Bearer " + "t" * 20}) == "read"
    assert guarded.role({"authorization": "bearer " + "a" * 20}) == "admin"
    assert guarded.role({"authorization": "Bearer nope"}) is None
    assert guarded.role(None) == "admin"  # stdio: the user who spawned it holds the token
    admin_only = Access(Tokens(None, "a" * 20))  # a token is configured: every request needs one
    assert admin_only.role({}) is None
    assert admin_only.role({"Authorization": "Bearer " + "a" * 20}) == "admin"
    assert Access(Tokens("t" * 20, None)).role(None) == "read"


def test_schema_uris_name_the_changed_relations() -> None:
    event = Event.create(
        "schema_updated",
        {
            "status": "updated",
            "new_hash": "b" * 64,
            "old_hash": "a" * 64,
            "schema_path": "x.ts",
            "table_count": 1,
            "changes": {
                "entries": [
                    {"kind": "column", "name": "public.tasks.note", "action": "added"},
                    {"kind": "enum", "name": "public.mood", "action": "added"},
                ]
            },
        },
        source_node="schema_sync",
    )
    uris = schema_uris(changed_entries(event))
    assert TABLES in uris
    for lang in ("typescript", "python", "go", "swift"):  # every types file the server offers
        assert f"ctas7://schema/types/{lang}" in uris
    assert "ctas7://schema/tables/public/tasks" in uris
    assert not any("mood" in u for u in uris)


def test_throttle_holds_then_releases() -> None:
    t = Throttle(0.25)
    assert t.offer("u", 0.0) is True
    assert t.offer("u", 0.1) is False and t.offer("u", 0.2) is False
    assert t.due(0.2) == [] and t.next_due() == 0.25
    assert t.due(0.3) == ["u"]
    assert t.due(0.4) == [] and t.next_due() is None
    assert t.offer("v", 0.1) is True
