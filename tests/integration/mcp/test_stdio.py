"""``ctas7 mcp`` driven by the SDK's own client: every resource read, every tool called with good
and with bad arguments (a clear tool error, never a crash), over stdio and over HTTP; the types
of every language byte-identical to ``ctas7 schema typegen --lang``; a store that cannot be read
reported by ``telemetry_status``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ctas7_panel import pgtools
from ctas7_panel.events import Event
from ctas7_panel.mcp.budget import BUDGET
from ctas7_panel.schema.languages import LANGUAGES
from ctas7_panel.store import open_store

pytestmark = pytest.mark.timeout(180)
FIRST_LINE = {
    "typescript": "export type Json",
    "python": "from __future__ import annotations",
    "go": "package database",
    "swift": "import Foundation",
}

TOOLS = {
    "schema_status",
    "list_tables",
    "describe_table",
    "generate_types",
    "impact",
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
            *(f"ctas7://schema/types/{lang}" for lang in ("typescript", "python", "go", "swift")),
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
            if "/types/" in uri:
                assert text.startswith(FIRST_LINE[uri.rsplit("/", 1)[1]]), uri
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


@contextlib.asynccontextmanager
async def connect(
    transport: str, env: dict[str, str], request: pytest.FixtureRequest
) -> AsyncIterator[Client]:
    """The SDK's client to a ``ctas7 mcp`` of its own, over ``stdio`` or ``http``."""
    if transport == "stdio":
        async with Client(stdio(env)) as client:
            yield client
        return
    server = request.getfixturevalue("start_http")(env)
    async with httpx2.AsyncClient(timeout=30) as http:
        async with Client(streamable_http_client(server.url, http_client=http)) as client:
            yield client


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_every_tool_good_and_bad_arguments(
    mcp_env: dict[str, str], mcp_db: str, transport: str, request: pytest.FixtureRequest
) -> None:
    async with connect(transport, mcp_env, request) as client:
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
        for lang in LANGUAGES:
            types = await call(client, "generate_types", {"lang": lang, "schemas": ["public"]})
            assert types["text"].startswith(FIRST_LINE[lang]) and types["deviations_total"] == 0
        impact = await call(client, "impact", {"target": "public.tasks"})
        assert impact["counts"] == {"foreign_key": 2} and impact["breaking_total"] == 1
        assert {d["name"] for d in impact["dependents"] if d["breaking"]} == {
            "task_executions_task_id_fkey on public.task_executions"
        }
        only = await call(client, "impact", {"target": "public.tasks", "breaking_only": True})
        assert [d["breaking"] for d in only["dependents"]] == [True]
        assert (await call(client, "impact", {"target": "tasks.status", "max_hops": 1}))[
            "targets"
        ] == [{"kind": "column", "name": "public.tasks.status", "change": "dropped or changed"}]
        assert (await call(client, "schema_history", {"limit": 5}))["versions"] == []
        assert (await call(client, "query_events", {"limit": 10}))["events"] == []
        telemetry = await call(client, "telemetry_status")
        assert "success_rate" in telemetry and telemetry["events_stored"] == 0
        assert telemetry["store"] | {"writer_note": ""} == {
            "kind": "sqlite",
            "readable": True,
            "up": True,
            "writer": None,  # standalone: the bridge writes the store, not this process
            "writer_note": "",
        }
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
            "impact": {"target": "public.nope"},
        }
        bad_too = [
            ("list_tables", {"match": "*" * 5000}),
            ("query_events", {"types": [f"t{i}" for i in range(1000)]}),
            ("query_events", {"since": -1}),
            ("generate_types", {"schemas": []}),
            ("generate_types", {"lang": "python", "cursor": "c1.e30"}),
            ("impact", {"target": ""}),
            ("impact", {"target": "public.tasks", "max_hops": 0}),
            ("impact", {"target": "a.b.c.d"}),
            ("impact", {"target": 'public."tasks'}),
            ("impact", {"target": "x" * 5000}),
            ("impact", {"target": "public.tasks", "cursor": "c1.e30"}),
            ("impact", {}),
            # oversized arguments: refused, never echoed into an answer over the budget
            ("list_tables", {"schema": "s" * 5000}),
            ("describe_table", {"schema": "public", "name": "n" * 64}),
            ("describe_table", {"schema": "é" * 32, "name": "tasks"}),  # 64 bytes
            ("generate_types", {"schemas": [f"s{i}" for i in range(21)]}),
            ("generate_types", {"schemas": ["public", "x" * 100]}),
            ("query_events", {"types": ["t" * 199] * 50}),
            ("query_events", {"sources": ["s" * 4001]}),
            ("dead_letters", {"target": "t" * 201}),
            ("schema_diff", {"old": "x" * 5000}),
        ]
        for name, args in [*bad.items(), *bad_too]:
            message = await error(client, name, args)
            assert message.startswith(f"Error executing tool {name}"), message
        assert "did you mean" in await error(
            client, "describe_table", {"schema": "public", "name": "Tasks"}
        )
        assert "PostgreSQL names have at most 63" in await error(
            client, "describe_table", {"schema": "public", "name": "n" * 64}
        )
        assert "types has 9950 characters in all: give at most 4000" in await error(
            client, "query_events", {"types": ["t" * 199] * 50}
        )
        message = await error(client, "impact", {"target": "public.taskz"})
        assert "'public.taskz' is not in the schema" in message and "did you mean" in message
        assert "max_hops=0 is out of range: give 1 to 32" in await error(
            client, "impact", {"target": "public.tasks", "max_hops": 0}
        )
        assert "unknown language" not in await error(client, "generate_types", {"lang": "rust"})
        assert "use one of typescript, python, go, swift" in await error(
            client, "generate_types", {"lang": "rust"}
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


async def test_types_of_every_language_are_what_ctas7_schema_typegen_writes(
    mcp_env: dict[str, str], tmp_path: Path
) -> None:
    """Each page of each language, joined, is the CLI's output byte for byte; the resource
    serves the same file."""
    async with Client(stdio(mcp_env)) as client:
        for lang in LANGUAGES:
            done = subprocess.run(  # noqa: ASYNC221 (the reference output, once per language)
                [sys.executable, "-m", "ctas7_panel", "schema", "typegen", "--lang", lang],
                env=mcp_env,
                capture_output=True,
                timeout=120,
                cwd=tmp_path,
                check=True,
            )
            answer = await call(client, "generate_types", {"lang": lang})
            assert answer["text"].encode() == done.stdout, lang
            assert answer["sha256"] == hashlib.sha256(done.stdout).hexdigest()
            read = await client.read_resource(f"ctas7://schema/types/{lang}")
            assert read.contents[0].text.encode() == done.stdout, lang  # type: ignore[union-attr]


async def test_telemetry_status_reports_a_store_it_cannot_read(
    mcp_env: dict[str, str], pg_admin_url: str
) -> None:
    """The event store (PostgreSQL here) is dropped under a running server: telemetry_status
    says so (store.up false, with the reason) instead of failing; query_events is a tool
    error naming the store."""
    with pgtools.temporary_database(pg_admin_url) as store_url:
        store = open_store(store_url)
        try:
            store.append([Event.create("mcp_probe", {"n": 1}, source_node="test")])
        finally:
            store.close()
        env = {**mcp_env, "CTAS7_STORE_URL": store_url}
        async with Client(stdio(env)) as client:
            up = await call(client, "telemetry_status")
            assert up["store"]["up"] is True and up["store"]["kind"] == "postgresql"
            assert up["events_stored"] == 1
            pgtools.drop_database(pg_admin_url, pgtools.database_name(store_url))
            down = await call(client, "telemetry_status")
            assert down["store"]["up"] is False and down["store"]["readable"] is False
            assert pgtools.database_name(store_url) in down["store"]["error"]
            assert down["events_stored"] is None and down["schema_feed"]["kind"] == "database"
            message = await error(client, "query_events", {})
            assert message.startswith("Error executing tool query_events")
            assert (await call(client, "schema_status"))["table_count"] == 7  # still serving


async def test_audit_checks_every_configured_types_file(
    mcp_env: dict[str, str], tmp_path: Path
) -> None:
    """With ``CTAS7_TYPES`` naming a TypeScript and a Python file, ``audit`` checks both against
    the live schema: current after ``ctas7 audit`` wrote them, stale naming the Python file once
    it is edited."""
    ts, py = tmp_path / "db.ts", tmp_path / "models.py"
    env = {**mcp_env, "CTAS7_TYPES": f"typescript:{ts},python:{py}"}
    done = subprocess.run(  # noqa: ASYNC221 (the real pre-test audit writes the files)
        [sys.executable, "-m", "ctas7_panel", "audit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    async with Client(stdio(env)) as client:
        live = (await call(client, "audit"))["live"]
        assert live["verdict"] == "current", live["problems"]
        assert live["types_files"] == [
            {"lang": "typescript", "path": str(ts), "current": True},
            {"lang": "python", "path": str(py), "current": True},
        ]
        py.write_text(py.read_text() + "\n# edited by hand\n")
        live = (await call(client, "audit"))["live"]
        assert live["verdict"] == "stale"
        assert live["problems"] == [
            f"python types file {py} differs from what the live schema generates"
        ]
        assert [f["current"] for f in live["types_files"]] == [True, False]
