"""``ctas7 mcp --http`` with the SDK's own client: tools, resources, a subscription; the token
required off loopback; a foreign Host header refused on loopback; writes only with
``--allow-writes`` and the admin token."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning

from ctas7_panel import pgtools
from ctas7_panel.events import Event
from ctas7_panel.mcp.budget import BUDGET
from ctas7_panel.store import open_store

pytestmark = pytest.mark.timeout(150)

ADMIN_TOKEN = "admin-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
INIT = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
).encode()
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@contextlib.asynccontextmanager
async def client(url: str, token: str | None = None, **kwargs: Any) -> AsyncIterator[Client]:
    """The SDK's client over HTTP (its httpx client closed after: a finalizer left to the
    collector upsets CPython 3.11's AST recursion check in a later import)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), **kwargs) as c:
            yield c


def text(result: Any) -> dict[str, Any]:
    body = result.content[0].text
    assert len(body) <= BUDGET
    return json.loads(body)  # type: ignore[no-any-return]


async def test_tools_resources_and_a_live_subscription(http_server: Any, mcp_db: str) -> None:
    async with client(http_server.url) as c:
        assert {t.name for t in (await c.list_tools()).tools} >= {"schema_status", "audit"}
        status = text(await c.call_tool("schema_status", {}))
        assert len(status["current_hash"]) == 64
        read = await c.read_resource("ctas7://telemetry/status")
        assert "success_rate" in json.loads(read.contents[0].text)  # type: ignore[union-attr]
        async with c.listen(resource_subscriptions=["ctas7://schema/status"]) as sub:
            pgtools.apply_sql(mcp_db, "create table public.over_http (id int)")
            with anyio.fail_after(10):  # a hang; how soon: benchmarks/mcp_server.py
                async for event in sub:
                    assert event.uri == "ctas7://schema/status"  # type: ignore[attr-defined]
                    break
        bad = await c.call_tool("list_tables", {"match": 7})
        assert bad.is_error


async def test_legacy_client_subscription_over_http(http_server: Any, mcp_db: str) -> None:
    got = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            got.set()

    async with client(http_server.url, mode="legacy", message_handler=on_message) as c:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await c.subscribe_resource("ctas7://schema/types/typescript")
        pgtools.apply_sql(mcp_db, "create table public.legacy_http (id int)")
        with anyio.fail_after(10):  # a hang; how soon: benchmarks/mcp_server.py
            await got.wait()


def test_foreign_host_header_is_refused_on_loopback(
    http_server: Any, raw_post: Callable[..., tuple[int, str]]
) -> None:
    ok, _ = raw_post(http_server.url, INIT, JSON_HEADERS)
    assert ok == 200
    status, body = raw_post(
        http_server.url, INIT, {**JSON_HEADERS, "Host": f"evil.example:{http_server.port}"}
    )
    assert status == 421 and "Invalid Host header" in body
    status, _ = raw_post(http_server.url, INIT, {**JSON_HEADERS, "Origin": "http://evil.example"})
    assert status == 403


def test_off_loopback_needs_a_token(mcp_env: dict[str, str]) -> None:
    env = {**mcp_env, "CTAS7_BIND": "0.0.0.0"}
    done = subprocess.run(
        [sys.executable, "-m", "ctas7_panel", "mcp", "--http", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "CTAS7_BIND='0.0.0.0' listens beyond this machine: set CTAS7_TOKEN" in done.stderr


async def test_token_required_when_bound_off_loopback(
    mcp_env: dict[str, str],
    start_http: Callable[..., Any],
    raw_post: Callable[..., tuple[int, str]],
) -> None:
    env = {**mcp_env, "CTAS7_BIND": "0.0.0.0", "CTAS7_TOKEN": READ_TOKEN}
    server = start_http(env)
    # the server listens on every interface; the test reaches it through loopback only
    url = f"http://127.0.0.1:{server.port}/mcp"
    status, body = raw_post(url, INIT, JSON_HEADERS)
    assert status == 401 and "Bearer" in body
    status, _ = raw_post(
        url, INIT, {**JSON_HEADERS, "Authorization": "Bearer wrong-token-xxxxxxxx"}
    )
    assert status == 401
    status, _ = raw_post(url, INIT, {**JSON_HEADERS, "Authorization": f"Bearer {READ_TOKEN}"})
    assert status == 200
    async with client(url, READ_TOKEN) as c:
        assert text(await c.call_tool("schema_status", {}))["table_count"] == 7


async def test_writes_need_allow_writes_and_the_admin_token(
    mcp_env: dict[str, str], start_http: Callable[..., Any], redis_url: str
) -> None:
    env = {
        **mcp_env,
        "CTAS7_TOKEN": READ_TOKEN,
        "CTAS7_ADMIN_TOKEN": ADMIN_TOKEN,
        "CTAS7_BUS_URL": redis_url,
    }
    no_admin = {k: v for k, v in env.items() if k != "CTAS7_ADMIN_TOKEN"}
    refused = subprocess.run(  # noqa: ASYNC221 (a short synchronous check)
        [sys.executable, "-m", "ctas7_panel", "mcp", "--allow-writes"],
        env=no_admin,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode == 2 and "--allow-writes needs CTAS7_ADMIN_TOKEN" in refused.stderr

    store = open_store(env["CTAS7_STORE_URL"])
    try:
        event = Event.create("mcp_probe", {"n": 1}, source_node="test")
        letter = store.add_dead_letter(event, "legion", "target down")
    finally:
        store.close()

    plain = start_http(env)  # no --allow-writes: no write tool at all
    async with client(plain.url, ADMIN_TOKEN) as c:
        assert "replay_dead_letters" not in {t.name for t in (await c.list_tools()).tools}

    server = start_http(env, "--allow-writes")
    async with client(server.url, READ_TOKEN) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert tools["replay_dead_letters"].annotations.read_only_hint is False  # type: ignore[union-attr]
        letters = text(await c.call_tool("dead_letters", {}))["dead_letters"]
        assert [d["id"] for d in letters] == [letter]
        denied = await c.call_tool("replay_dead_letters", {"ids": [letter]})
        assert denied.is_error and "needs the admin token" in denied.content[0].text  # type: ignore[union-attr]
    async with client(server.url, ADMIN_TOKEN) as c:
        for bad, says in (
            ({"ids": []}, "ids is empty"),
            ({"ids": ["one"]}, "validation error"),
            ({"ids": 5}, "validation error"),
        ):
            refused = await c.call_tool("replay_dead_letters", bad)
            assert refused.is_error and says in refused.content[0].text, bad  # type: ignore[union-attr]
        done = text(await c.call_tool("replay_dead_letters", {"ids": [letter]}))
        assert done == {"replayed": 1, "ids": [letter]}
        assert text(await c.call_tool("dead_letters", {}))["dead_letters"] == []
        again = await c.call_tool("replay_dead_letters", {"ids": [letter]})
        assert again.is_error and "no unreplayed dead letter" in again.content[0].text  # type: ignore[union-attr]
