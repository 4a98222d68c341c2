"""``panel serve`` options users expect: ``--num-procs`` on the Redis bus with ``--basic-auth``.

Two server processes share one Redis: each runs the pipeline (one watcher is the leader, the
sibling runs without the gateway, whose port the first one holds); every session in either
process sees a DDL change.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from ctas7_panel import pgtools
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.netutil import free_port
from tests.browser.conftest import start_server, stop_server

pytestmark = pytest.mark.browser
PASSWORD = "s3cret-pw"


@pytest.fixture
def two_procs(fresh_db_url: str, redis_url: str) -> Iterator[tuple[str, str]]:
    apply_migrations(fresh_db_url)
    home = Path(tempfile.mkdtemp(prefix="ctas7-numprocs-"))
    env = {
        "CTAS7_DEV_INGEST_PORT": "",  # the real runtime
        "CTAS7_DATABASE_URL": fresh_db_url,
        "CTAS7_BUS_URL": redis_url,
        "CTAS7_GATEWAY_PORT": str(free_port()),
    }
    args = ("--num-procs", "2", "--basic-auth", PASSWORD, "--cookie-secret", "test-cookie")
    server = start_server(home, extra_env=env, extra_args=args)
    try:
        yield server.url, fresh_db_url
    finally:
        stop_server(server)
        shutil.rmtree(home, ignore_errors=True)


def test_num_procs_on_redis_with_basic_auth(browser: Browser, two_procs: tuple[str, str]) -> None:
    url, db_url = two_procs
    with urllib.request.urlopen(url, timeout=10) as response:  # not logged in: the login page
        assert "/login" in response.url
    pages = []
    for _ in range(4):  # tornado spreads connections over both processes
        page = browser.new_context().new_page()
        page.goto(url)
        page.fill("input[name=password]", PASSWORD)
        if page.locator("input[name=username]").count():
            page.fill("input[name=username]", "ops")
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_selector("[data-component=schema-indicator]", timeout=30_000)
        pages.append(page)
    indicators = [p.locator("[data-component=schema-indicator]") for p in pages]
    deadline = time.monotonic() + 20
    while not all(i.get_attribute("data-schema-hash") for i in indicators):
        assert time.monotonic() < deadline, "a session never showed the schema hash"
        time.sleep(0.1)
    before = {i.get_attribute("data-schema-hash") for i in indicators}
    assert len(before) == 1

    with pgtools.connect(db_url) as conn:
        conn.execute("ALTER TABLE public.nodes ADD COLUMN num_procs_probe text")
    deadline = time.monotonic() + 15
    while True:
        after = {i.get_attribute("data-schema-hash") for i in indicators}
        if len(after) == 1 and after != before:
            break
        assert time.monotonic() < deadline, f"sessions did not all move on: {after}"
        time.sleep(0.1)
