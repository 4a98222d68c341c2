"""``panel serve`` options users expect: ``--num-procs`` on the Redis bus with ``--basic-auth``.

Two server processes share one Redis: each runs the pipeline (one watcher is the leader, the
sibling runs without the gateway, whose port the first one holds); every session in either
process sees a DDL change.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
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

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-pw"


@pytest.fixture
def two_procs(fresh_db_url: str, redis_url: str) -> Iterator[tuple[str, str]]:
    apply_migrations(fresh_db_url)
    home = Path(tempfile.mkdtemp(prefix="ctas7-numprocs-"))
    port = free_port()
    env = {
        **os.environ,
        "CTAS7_DATABASE_URL": fresh_db_url,
        "CTAS7_BUS_URL": redis_url,
        "CTAS7_HOME": str(home),
        "CTAS7_STORE_URL": f"sqlite:///{home}/events.db",
        "CTAS_HASH_CACHE_PATH": str(home / ".last_schema_hash"),
        "CTAS_SCHEMA_PATH": str(home / "types.ts"),
        "CTAS7_GATEWAY_PORT": str(free_port()),
    }
    env.pop("CTAS7_DEV_INGEST_PORT", None)
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "panel",
            "serve",
            str(ROOT / "ctas7_panel" / "app.py"),
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
            "--num-procs",
            "2",
            "--basic-auth",
            PASSWORD,
            "--cookie-secret",
            "test-cookie-secret",
            "--allow-websocket-origin",
            f"127.0.0.1:{port}",
        ],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the forked workers stop with it
    )
    url = f"http://127.0.0.1:{port}/app"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).close()
                break
            except OSError:
                assert proc.poll() is None, (home / "serve.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "panel serve did not come up"
                time.sleep(0.3)
        yield url, fresh_db_url
    finally:
        stop_group(proc)
        shutil.rmtree(home, ignore_errors=True)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server and its forked workers; SIGKILL whatever is left after 15 s."""
    group = os.getpgid(proc.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)  # any member left?
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)


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
