"""``ctas7 serve``: everything in one process, the dashboard answering on loopback only (``ss``),
SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ctas7_panel.access import is_loopback
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.netutil import free_port
from tests.integration.runtime.listening import listening


def test_serve_runs_everything_and_stops_on_sigterm(fresh_db_url: str, tmp_path: Path) -> None:
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
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctas7_panel", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/app", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "ctas7 serve did not answer within 60 s"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway}/healthz", timeout=5) as r:
            assert r.status == 200  # the gateway runs in the same process
        assert (tmp_path / "types.ts").exists()  # the watcher's first sync wrote the types
        sockets = listening(proc.pid)  # CTAS7_BIND unset: dashboard and gateway on loopback only
        assert {port, gateway} <= {p for _, p in sockets}, sockets
        assert all(is_loopback(host) for host, _ in sockets), sockets
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    text = (tmp_path / "serve.log").read_text()
    assert code == 0, text[-2000:]
    assert "error while stopping" not in text and "Traceback" not in text, text[-2000:]
