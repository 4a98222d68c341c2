"""Playwright on Debian's Chromium against a real ``panel serve ctas7_panel/app.py``.

One server per test session (a subprocess on a free port, its own store and home in a temp
directory), started with the dev runtime's websocket ingest (``CTAS7_DEV_INGEST_PORT``) so tests
send events "to the bridge" as an outside system would. Screenshots go to ``test-results/``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from ctas7_panel.events import Event
from ctas7_panel.netutil import free_port
from tests.browser.chromium import ARGS, CHROMIUM, panel_serve_command

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-results"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """Replaces pytest-base-url's fixture (a class-method fixture pytest 9 warns about)."""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"CI=true but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ARGS,
    }


@dataclass
class DashboardServer:
    url: str
    ingest_url: str
    process: subprocess.Popen[bytes]
    home: Path

    def send(self, event: Event) -> dict[str, Any]:
        """Send one event to the ingest websocket; return its answer (ack or error)."""
        from websockets.sync.client import connect

        with connect(self.ingest_url, open_timeout=5) as ws:
            ws.send(event.to_json().decode())
            answer: dict[str, Any] = orjson.loads(ws.recv(timeout=5))
        return answer


def start_server(
    home: Path,
    *,
    extra_env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> DashboardServer:
    """``panel serve ctas7_panel/app.py`` in its own process group (``--num-procs`` forks)."""
    port, ingest = free_port(), free_port()
    env = {
        **os.environ,
        "CTAS7_HOME": str(home),
        "CTAS7_STORE_URL": f"sqlite:///{home / 'events.db'}",
        "CTAS_HASH_CACHE_PATH": str(home / ".last_schema_hash"),
        "CTAS_SCHEMA_PATH": str(home / "supabase_schema.ts"),
        "CTAS7_DEV_INGEST_PORT": str(ingest),
        "CTAS7_DEMO_RATE": "3",
        **(extra_env or {}),
    }
    log = open(home / "panel-serve.log", "wb")
    proc = subprocess.Popen(
        panel_serve_command(
            port,
            "--check-unused-sessions",
            "1000",
            "--unused-session-lifetime",
            "1000",
            *extra_args,
        ),
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/app"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_group(proc)
            raise RuntimeError(
                f"panel serve did not come up: {(home / 'panel-serve.log').read_text()[-2000:]}"
            )
        time.sleep(0.2)
    return DashboardServer(url, f"ws://127.0.0.1:{ingest}/", proc, home)


def stop_server(server: DashboardServer) -> None:
    stop_group(server.process)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server and its forked workers; SIGKILL whatever is left after 15 s."""
    try:
        group = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
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


@pytest.fixture(scope="session")
def dashboard_server() -> Iterator[DashboardServer]:
    home = Path(tempfile.mkdtemp(prefix="ctas7-browser-"))
    server = start_server(home)
    try:
        yield server
    finally:
        stop_server(server)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
