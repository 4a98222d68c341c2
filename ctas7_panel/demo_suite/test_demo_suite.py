"""The demo's test suite: real checks of the demo database, reported through the plugin.

Run by ``ctas7 demo`` as ``pytest --ctas7-telemetry`` against ``CTAS7_DEMO_DATABASE_URL``; most
checks pass, one is skipped, and one fails now and then (a flaky check on purpose, so the
dashboard's failure list has something true to show).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import psycopg
import pytest

URL = os.environ.get("CTAS7_DEMO_DATABASE_URL", "")

pytestmark = pytest.mark.skipif(not URL, reason="CTAS7_DEMO_DATABASE_URL is not set")


@pytest.fixture(scope="module")
def conn() -> Iterator[psycopg.Connection]:
    with psycopg.connect(URL, autocommit=True) as c:
        yield c


def test_core_tables_exist(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_name IN ('nodes', 'tasks', 'task_executions', 'crates')"
    ).fetchone()
    assert rows is not None and rows[0] == 4


def test_task_status_enum_has_the_basics(conn: psycopg.Connection) -> None:
    labels = {
        r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::public.task_status))::text")
    }
    assert {"pending", "running", "succeeded", "failed"} <= labels


def test_nodes_have_unique_hostnames(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT count(*) - count(DISTINCT hostname) FROM public.nodes").fetchone()
    assert row == (0,)


@pytest.mark.parametrize("table", ["tasks", "nodes", "telemetry_events"])
def test_tables_are_queryable(conn: psycopg.Connection, table: str) -> None:
    conn.execute(f"SELECT * FROM public.{table} LIMIT 1").fetchall()


def test_alerts_table_when_migrated(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT to_regclass('public.alerts') IS NOT NULL").fetchone()
    if not (row and row[0]):
        pytest.skip("the alerts migration has not been applied yet")
    conn.execute("SELECT severity FROM public.alerts LIMIT 1").fetchall()


def test_heartbeat_freshness_flaky() -> None:
    """Fails about one run in four: a deliberately flaky check."""
    assert random.random() > 0.25, "a node missed its heartbeat window (simulated flake)"
