"""``ctas7 mcp`` over stdio, driven by the SDK's own client: every resource read, every tool
called with good and with bad arguments (a clear tool error, never a crash)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from ctas7_panel import pgtools
from ctas7_panel.mcp.budget import BUDGET

pytestmark = pytest.mark.timeout(120)

TOOLS = {
    "schema_status",
    "list_tables",
    "describe_table",
    "generate_types",
    "schema_diff",
    "schema_history",
    "query_events",
    "telemetry_status",
    "route_metrics",
    "dead_letters",
    "audit",
}


def stdio(env: dict[str, str], *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "ctas7_panel", "mcp", *extra], env=env
    )


async def call(client: Client, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await client.call_tool(name, args or {})
    assert not result.is_error, f"{name}({args}) failed: {result.content}"
    text = result.content[0].text  # type: ignore[union-attr]
    assert len(text) <= BUDGET, f"{name}: {len(text)} characters"
    data = json.loads(text)
    assert data == result.structured_content
    return data  # type: ignore[no-any-return]


async def error(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error, f"{name}({args}) should fail: {result.content}"
    return str(result.content[0].text)  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_resource_lists_and_reads(mcp_env: dict[str, str], mode: str) -> None:
    async with Client(stdio(mcp_env), mode=mode) as client:
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert resources == {
            "ctas7://schema/status",
            "ctas7://schema/tables",
            "ctas7://schema/types/typescript",
            "ctas7://schema/versions",
            "ctas7://telemetry/status",
            "ctas7://telemetry/events",
        }
        templates = {
            t.uri_template for t in (await client.list_resource_templates()).resource_templates
        }
        assert "ctas7://schema/tables/{schema}/{name}{?cursor}" in templates
        assert "ctas7://schema/diff/{old}/{new}{?cursor}" in templates
        for uri in sorted(resources):
            contents = (await client.read_resource(uri)).contents
            text = contents[0].text  # type: ignore[union-attr]
            assert text and len(text) <= BUDGET, uri
            if uri.endswith("typescript"):
                assert text.startswith("export type Json")
            else:
                json.loads(text)
        status = json.loads(
            (await client.read_resource("ctas7://schema/status")).contents[0].text  # type: ignore[union-attr]
        )
        assert set(status) >= {"current_hash", "last_update", "listeners_count", "is_watching"}
        assert status["table_count"] == 7
        table = json.loads(
            (await client.read_resource("ctas7://schema/tables/public/tasks")).contents[0].text  # type: ignore[union-attr]
        )
        assert table["name"] == "tasks" and any(c["name"] == "id" for c in table["columns"])
        h = status["current_hash"]
        diff = json.loads(
            (await client.read_resource(f"ctas7://schema/diff/{h}/current")).contents[0].text  # type: ignore[union-attr]
        )
        assert diff["entries"] == [] and diff["old"] == diff["new"] == h
        with pytest.raises(MCPError, match=r"no table or view public\.nope"):
            await client.read_resource("ctas7://schema/tables/public/nope")
        with pytest.raises(MCPError, match="no generator for language 'cobol'"):
            await client.read_resource("ctas7://schema/types/cobol")
        with pytest.raises(MCPError):
            await client.read_resource("ctas7://nothing/here")


async def test_every_tool_good_and_bad_arguments(mcp_env: dict[str, str], mcp_db: str) -> None:
    async with Client(stdio(mcp_env)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == TOOLS  # no write tool without --allow-writes
        for tool in (await client.list_tools()).tools:
            assert tool.output_schema is not None, tool.name
            assert tool.annotations is not None and tool.annotations.read_only_hint

        status = await call(client, "schema_status")
        first = status["current_hash"]
        tables = await call(client, "list_tables", {"match": "task*"})
        assert [t["name"] for t in tables["tables"]] == ["task_executions", "tasks"]
        assert (await call(client, "list_tables", {"schema": "public", "columns": True}))["tables"]
        assert (await call(client, "describe_table", {"schema": "public", "name": "tasks"}))[
            "relationships"
        ]
        types = await call(client, "generate_types", {})
        assert types["pages"] == 1 and types["text"].startswith("export type Json")
        assert (await call(client, "schema_history", {"limit": 5}))["versions"] == []
        assert (await call(client, "query_events", {"limit": 10}))["events"] == []
        assert "success_rate" in await call(client, "telemetry_status")
        assert "routes" in await call(client, "route_metrics")
        assert (await call(client, "dead_letters"))["dead_letters"] == []
        assert (await call(client, "audit"))["live"]["verdict"] == "stale"  # never synced

        # a real change, then the diff between the two versions this server has seen
        pgtools.apply_sql(mcp_db, "alter table public.tasks add column mcp_note text")
        second = (await call(client, "schema_status"))["current_hash"]
        assert second != first
        diff = await call(client, "schema_diff", {"old": first[:10], "new": "current"})
        assert {"kind": "column", "name": "public.tasks.mcp_note", "action": "added"}.items() <= (
            diff["entries"][0].items()
        )
        assert (await call(client, "schema_diff", {}))["new"] == second

        bad = {
            "list_tables": {"cursor": "c1.not-a-cursor"},
            "describe_table": {"schema": "public", "name": "nope"},
            "generate_types": {"lang": "cobol"},
            "schema_diff": {"old": "deadbeefdeadbeef"},
            "schema_history": {"limit": 0},
            "query_events": {"limit": 10_000},
            "route_metrics": {"cursor": "x"},
            "dead_letters": {"cursor": 5},
        }
        bad_too = [
            ("list_tables", {"match": "*" * 5000}),
            ("query_events", {"types": [f"t{i}" for i in range(1000)]}),
            ("query_events", {"since": -1}),
            ("generate_types", {"schemas": []}),
        ]
        for name, args in [*bad.items(), *bad_too]:
            message = await error(client, name, args)
            assert message.startswith(f"Error executing tool {name}"), message
        assert "did you mean" in await error(
            client, "describe_table", {"schema": "public", "name": "Tasks"}
        )
        assert "unknown tool" in (await error(client, "no_such_tool", {})).lower()
        assert "validation error" in (await error(client, "describe_table", {})).lower()
        message = await error(client, "schema_diff", {"old": "/etc/passwd"})
        assert "neither 'current', a version hash nor a snapshot file" in message
        message = await error(client, "schema_diff", {"old": "/etc/x.json"})
        assert "outside the working directory" in message
        # still serving after all of that
        assert (await call(client, "schema_status"))["current_hash"] == second

        names = {p.name for p in (await client.list_prompts()).prompts}
        assert names == {"explain_schema_change", "check_types_current"}
        prompt = await client.get_prompt("check_types_current", {})
        assert '"verdict":"stale"' in prompt.messages[0].content.text  # type: ignore[union-attr]
        prompt = await client.get_prompt("explain_schema_change", {})
        assert "public.tasks.mcp_note" in prompt.messages[0].content.text  # type: ignore[union-attr]


async def test_unreachable_database_is_a_clear_error_not_a_crash(mcp_env: dict[str, str]) -> None:
    env = {**mcp_env, "CTAS7_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/gone"}
    async with Client(stdio(env)) as client:
        message = await error(client, "schema_status", {})
        assert "cannot connect to postgresql://nobody@127.0.0.1:1/gone" in message
        telemetry = await call(client, "telemetry_status")  # the store still answers
        assert telemetry["schema_feed"] == {"kind": "database", "watching": False}
        with pytest.raises(MCPError, match="cannot connect"):
            await client.read_resource("ctas7://schema/status")
