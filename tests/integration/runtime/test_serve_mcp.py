"""``ctas7 serve`` answers MCP at ``/mcp`` on the dashboard's port: the SDK's client lists and
calls tools, a ``subscriptions/listen`` stream hears a DDL statement through the runtime's bus
(how soon: benchmarks/mcp_server.py), and a foreign Host header is refused."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ctas7_panel import pgtools
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.netutil import free_port

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def served(fresh_db_url: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    apply_migrations(fresh_db_url)
    port, gateway = free_port(), free_port()
    env = {
        **os.environ,
        "CTAS7_DATABASE_URL": fresh_db_url,
        "CTAS7_HOME": str(tmp_path / "home"),
        "CTAS7_STORE_URL": f"sqlite:///{tmp_path}/events.db",
        "CTAS_SCHEMA_PATH": str(tmp_path / "types.ts"),
        "CTAS_HASH_CACHE_PATH": str(tmp_path / ".hash"),
        "CTAS7_GATEWAY_PORT": str(gateway),
    }
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctas7_panel", "serve", "--port", str(port), "--no-demo"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/app", timeout=5):
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "ctas7 serve did not answer within 90 s"
                time.sleep(0.3)
        yield fresh_db_url, port
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(40)
    assert code == 0, log.read_text()[-3000:]


@contextlib.asynccontextmanager
async def client(url: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as c:
            yield c


async def test_mcp_at_slash_mcp_inside_serve(served: tuple[str, int]) -> None:
    db_url, port = served
    url = f"http://127.0.0.1:{port}/mcp"
    async with client(url) as c:
        assert "schema_status" in {t.name for t in (await c.list_tools()).tools}
        status = json.loads((await c.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
        assert status["table_count"] == 7 and status["feed"] == "bus"
        telemetry = json.loads((await c.call_tool("telemetry_status", {})).content[0].text)  # type: ignore[union-attr]
        assert telemetry["mode"] == "serve" and telemetry["components"]["bridge"]["up"]
        writer = telemetry["store"]["writer"]  # the bridge's store writer: the dashboard's chip
        assert telemetry["store"]["up"] and writer["up"] and writer["errors_total"] == 0
        async with c.listen(resource_subscriptions=["ctas7://schema/status"]) as sub:
            pgtools.apply_sql(db_url, "create table public.from_serve (id int)")
            with anyio.fail_after(10):  # a hang; how soon: benchmarks/mcp_server.py
                async for event in sub:
                    assert event.uri == "ctas7://schema/status"  # type: ignore[attr-defined]
                    break
        after = json.loads((await c.call_tool("schema_status", {})).content[0].text)  # type: ignore[union-attr]
        assert after["table_count"] == 8
        history = json.loads((await c.call_tool("schema_history", {})).content[0].text)  # type: ignore[union-attr]
        assert history["versions"][0]["hash"] == after["current_hash"]
        diff = json.loads((await c.call_tool("schema_diff", {})).content[0].text)  # type: ignore[union-attr]
        assert [e["name"] for e in diff["entries"]] == ["public.from_serve"]

    request = urllib.request.Request(
        url,
        data=b"{}",
        headers={"Content-Type": "application/json", "Host": f"evil.example:{port}"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: ASYNC210 (the servers run elsewhere)
    assert refused.value.code == 421
