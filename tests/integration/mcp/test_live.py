"""Subscribers hear of a real DDL statement: over the 2026 protocol's ``subscriptions/listen``
and over ``resources/subscribe`` (earlier protocol versions), from a standalone ``ctas7 mcp``
that watches the database itself. How soon (the issue's "within 1 s") is measured by
``benchmarks/mcp_server.py`` (DDL -> notification p50/p95), not asserted here; the two tests
print what they saw (``pytest -s``)."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPDeprecationWarning

from ctas7_panel import pgtools

pytestmark = pytest.mark.timeout(120)
HEARD_WITHIN_S = 10.0  # a deadline for a hang, not a speed budget


def stdio(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "ctas7_panel", "mcp"], env=env)


async def test_listen_stream_hears_ddl(mcp_env: dict[str, str], mcp_db: str) -> None:
    async with Client(stdio(mcp_env)) as client:
        assert client.protocol_version == "2026-07-28"
        before = json.loads((await client.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
        uris = ["ctas7://schema/status", "ctas7://schema/types/typescript"]
        async with client.listen(resource_subscriptions=uris) as sub:
            status = json.loads((await client.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
            assert status["listeners_count"] == 1 and status["is_watching"]
            pgtools.apply_sql(mcp_db, "create table public.mcp_live (id int primary key)")
            ddl_done = time.monotonic()
            got: set[str] = set()
            with anyio.fail_after(HEARD_WITHIN_S):
                async for event in sub:
                    got.add(event.uri)  # type: ignore[attr-defined]
                    if got >= set(uris):
                        break
            print(f"DDL -> both notifications {time.monotonic() - ddl_done:.3f} s (listen)")
        after = json.loads((await client.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
        assert after["current_hash"] != before["current_hash"]
        assert after["table_count"] == before["table_count"] + 1
        text = (await client.read_resource("ctas7://schema/types/typescript")).contents[0].text  # type: ignore[union-attr]
        assert "mcp_live: {" in text


async def test_legacy_subscribe_hears_ddl(mcp_env: dict[str, str], mcp_db: str) -> None:
    got = anyio.Event()
    seen: list[str] = []

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            seen.append(message.params.uri)
            got.set()

    async with Client(stdio(mcp_env), mode="legacy", message_handler=on_message) as client:
        assert (
            client.server_capabilities.resources and client.server_capabilities.resources.subscribe
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.subscribe_resource("ctas7://schema/tables/public/tasks")
        status = json.loads((await client.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
        assert status["listeners_count"] == 1
        pgtools.apply_sql(mcp_db, "alter table public.tasks add column mcp_flag boolean")
        ddl_done = time.monotonic()
        with anyio.fail_after(HEARD_WITHIN_S):
            await got.wait()
        print(f"DDL -> notification {time.monotonic() - ddl_done:.3f} s (resources/subscribe)")
        assert seen[0] == "ctas7://schema/tables/public/tasks"
        table = json.loads(
            (await client.read_resource("ctas7://schema/tables/public/tasks")).contents[0].text  # type: ignore[union-attr]
        )
        assert "mcp_flag" in {c["name"] for c in table["columns"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.unsubscribe_resource("ctas7://schema/tables/public/tasks")
        status = json.loads((await client.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
        assert status["listeners_count"] == 0


async def test_new_events_in_the_store_notify_telemetry_events(
    mcp_env: dict[str, str], tmp_path: object
) -> None:
    from ctas7_panel.events import Event
    from ctas7_panel.store import open_store

    async with Client(stdio(mcp_env)) as client:
        async with client.listen(resource_subscriptions=["ctas7://telemetry/events"]) as sub:
            store = open_store(mcp_env["CTAS7_STORE_URL"])
            try:
                store.append([Event.create("mcp_probe", {"ok": True}, source_node="qa")])
            finally:
                store.close()
            with anyio.fail_after(5):
                async for event in sub:
                    assert event.uri == "ctas7://telemetry/events"  # type: ignore[attr-defined]
                    break
        events = json.loads(
            (await client.call_tool("query_events", {"types": ["mcp_probe"]})).content[0].text  # type: ignore[union-attr]
        )
        assert [e["event_type"] for e in events["events"]] == ["mcp_probe"]


async def watching(client: Client) -> bool:
    status = await client.call_tool("schema_status", {})
    return bool(json.loads(status.content[0].text)["is_watching"])  # type: ignore[union-attr]


async def test_survives_its_connections_being_killed(
    mcp_env: dict[str, str], mcp_db: str, tmp_path: Path
) -> None:
    """Every backend of the server terminated (as a restart or a failover would): the next
    answer reconnects, and the watcher reconnects and still hears DDL."""
    name = pgtools.database_name(mcp_db)
    stderr = tmp_path / "server.log"
    with stderr.open("w") as errlog:
        async with Client(stdio_client(stdio(mcp_env), errlog=errlog)) as client:
            await _survives(client, mcp_db, name, stderr)


async def _survives(client: Client, mcp_db: str, name: str, stderr: Path) -> None:
    """The backends terminated, the next answer, the watcher back, a DDL heard."""
    first = json.loads((await client.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
    pgtools.apply_sql(
        mcp_db,
        "select pg_terminate_backend(pid) from pg_stat_activity "
        f"where datname = '{name}' and pid <> pg_backend_pid()",
    )
    again = await client.call_tool("schema_status", {})  # the very next answer
    assert not again.is_error, again.content
    assert json.loads(again.content[0].text)["current_hash"] == first["current_hash"]  # type: ignore[union-attr]
    with anyio.fail_after(10):  # the watcher saw its connection go (it says so, once)
        while "schema watch lost the database" not in stderr.read_text():  # noqa: ASYNC110, ASYNC240
            await anyio.sleep(0.05)
    async with client.listen(resource_subscriptions=["ctas7://schema/status"]) as sub:
        with anyio.fail_after(10):  # the watcher's first reconnect comes after 0.5 s
            while not await watching(client):  # noqa: ASYNC110 (polling the server)
                await anyio.sleep(0.1)
        pgtools.apply_sql(mcp_db, "create table public.after_outage (id int)")
        with anyio.fail_after(HEARD_WITHIN_S):
            async for event in sub:
                assert event.uri == "ctas7://schema/status"  # type: ignore[attr-defined]
                break


async def test_standalone_on_the_redis_bus_hears_schema_updated(
    mcp_env: dict[str, str], redis_url: str
) -> None:
    """With ``CTAS7_BUS_URL`` naming Redis, a standalone server follows the bus: a
    ``schema_updated`` published there (as the sync node does) reaches its subscribers, the
    status and each table the change names."""
    from ctas7_panel.events import Event
    from ctas7_panel.streams import open_bus

    env = {**mcp_env, "CTAS7_BUS_URL": redis_url}
    async with Client(stdio(env)) as client:
        with anyio.fail_after(30):  # is_watching once its consumer group exists
            while not await watching(client):  # noqa: ASYNC110 (polling the server)
                await anyio.sleep(0.1)
        status = json.loads((await client.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
        assert status["feed"] == "bus"
        bus = open_bus(redis_url)
        await bus.start()
        try:
            uris = ["ctas7://schema/status", "ctas7://schema/tables/public/tasks"]
            async with client.listen(resource_subscriptions=uris) as sub:
                event = Event.create(
                    "schema_updated",
                    {
                        "status": "updated",
                        "old_hash": "a" * 64,
                        "new_hash": "b" * 64,
                        "schema_path": "types.ts",
                        "table_count": 7,
                        "changes": {
                            "entries": [
                                {"kind": "column", "name": "public.tasks.note", "action": "added"}
                            ]
                        },
                    },
                    source_node="schema_sync",
                )
                await bus.publish(event, topic="events")
                got: set[str] = set()
                with anyio.fail_after(HEARD_WITHIN_S):
                    async for update in sub:
                        got.add(update.uri)  # type: ignore[attr-defined]
                        if got >= set(uris):
                            break
        finally:
            await bus.close()
