"""``scripts/run-app.sh``: the dashboard listens on CTAS7_BIND (loopback unless set), and a bind
beyond this machine without a token, or an unusable token, stops it before it listens."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from ctas7_panel.access import is_loopback
from ctas7_panel.netutil import free_port
from tests.browser.conftest import stop_group
from tests.integration.runtime.listening import listening

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "run-app.sh"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTAS7_", "CTAS_"))}
    return {
        **env,
        "CTAS7_HOME": str(tmp_path / "home"),
        "CTAS7_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "CTAS7_DEV_INGEST_PORT": str(free_port()),  # no session is opened: nothing starts
        **extra,
    }


def test_run_app_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "run-app.log").open("wb")
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        env=_env(tmp_path, PORT=str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120  # run-app.sh runs bootstrap.sh first
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=5):
                    pass
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                assert proc.poll() is None, (tmp_path / "run-app.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "run-app.sh did not listen within 120 s"
                time.sleep(0.3)
        sockets = listening(proc.pid)
        assert port in {p for _, p in sockets}, sockets
        assert all(is_loopback(host) for host, _ in sockets), sockets
    finally:
        stop_group(proc)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"CTAS7_BIND": "0.0.0.0"}, "CTAS7_BIND='0.0.0.0' listens beyond this machine"),
        ({"CTAS7_BIND": "0.0.0.0", "CTAS7_TOKEN": "short"}, "at least 16"),
        ({"CTAS7_TOKEN": "   "}, "CTAS7_TOKEN is blank"),
    ],
)
def test_run_app_refuses_an_unsafe_configuration_before_listening(
    tmp_path: Path, extra: dict[str, str], says: str
) -> None:
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--port", str(free_port())],
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert says in proc.stderr and "run-app:" in proc.stderr
