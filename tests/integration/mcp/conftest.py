"""Fixtures for the MCP server tests: a real database with the CTAS-7 schema and the DDL
trigger, the environment of a ``ctas7 mcp`` process, and a running ``ctas7 mcp --http``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ctas7_panel.migrations import apply_migrations
from ctas7_panel.netutil import free_port
from ctas7_panel.schema import trigger

ADMIN_TOKEN = "admin-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"


@pytest.fixture
def mcp_db(fresh_db_url: str) -> str:
    """A fresh database with the bundled CTAS-7 schema and the DDL event trigger."""
    apply_migrations(fresh_db_url)
    trigger.install(fresh_db_url)
    return fresh_db_url


@pytest.fixture
def mcp_env(mcp_db: str, tmp_path: Path) -> dict[str, str]:
    """The environment a desktop client would give ``ctas7 mcp`` (everything in tmp_path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTAS7_", "CTAS_"))}
    env.update(
        {
            "CTAS7_DATABASE_URL": mcp_db,
            "CTAS7_HOME": str(tmp_path / "home"),
            "CTAS7_STORE_URL": f"sqlite:///{tmp_path}/events.db",
            "CTAS_SCHEMA_PATH": str(tmp_path / "types.ts"),
            "CTAS_HASH_CACHE_PATH": str(tmp_path / ".hash"),
            "CTAS7_POLL_INTERVAL": "30",
        }
    )
    return env


@dataclass
class HttpServer:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _start_http(env: dict[str, str], tmp_path: Path, *extra: str) -> HttpServer:
    port = free_port()
    log = tmp_path / f"mcp-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctas7_panel", "mcp", "--http", "--port", str(port), *extra],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    server = HttpServer(f"http://127.0.0.1:{port}/mcp", port, proc, log, env)
    deadline = time.monotonic() + 60
    while "serving http" not in log.read_text(errors="replace"):
        assert proc.poll() is None, server.output()
        assert time.monotonic() < deadline, "ctas7 mcp --http did not start within 60 s"
        time.sleep(0.05)
    return server


def _stop(server: HttpServer) -> int:
    server.proc.terminate()
    try:
        return server.proc.wait(20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        raise


@pytest.fixture
def http_server(mcp_env: dict[str, str], tmp_path: Path) -> Iterator[HttpServer]:
    server = _start_http(mcp_env, tmp_path)
    try:
        yield server
    finally:
        code = _stop(server)
        assert code == 0, server.output()


@pytest.fixture
def start_http(tmp_path: Path) -> Iterator[Callable[..., HttpServer]]:
    """``start_http(env, *flags)``: a ``ctas7 mcp --http`` of its own, stopped after the test."""
    started: list[HttpServer] = []

    def start(env: dict[str, str], *extra: str) -> HttpServer:
        server = _start_http(env, tmp_path, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        _stop(server)


@pytest.fixture
def raw_post() -> Callable[[str, bytes, dict[str, str]], tuple[int, str]]:
    return _post


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """A raw POST (for what the SDK client would never send)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
