"""``ctas7 notebooks`` starts a real JupyterLab on ``notebooks/`` whose Python kernel is the
interpreter ctas7 runs on (the one with ``ctas7_panel`` installed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ctas7_panel.netutil import free_port

ROOT = Path(__file__).resolve().parents[3]


def get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        data: dict[str, object] = json.loads(resp.read())
        return data


@pytest.mark.slow
def test_ctas7_notebooks_serves_the_notebooks_with_this_python(tmp_path: Path) -> None:
    """Slow (17 s at load 14): JupyterLab's start-up."""
    port = free_port()
    log = tmp_path / "lab.log"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with log.open("wb") as out:
        lab = subprocess.Popen(
            [sys.executable, "-m", "ctas7_panel", "notebooks", "--no-browser", "--port",
             str(port), "--", "--IdentityProvider.token=t0ken"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                listing = get(f"{base}/api/contents/?token=t0ken")
                break
            except OSError:
                assert lab.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "JupyterLab did not answer within 120 s"
                time.sleep(0.5)
        names = {item["name"] for item in listing["content"]}  # type: ignore[index, union-attr]
        assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} <= names
        specs = get(f"{base}/api/kernelspecs?token=t0ken")
        python = specs["kernelspecs"]["python3"]["spec"]["argv"][0]  # type: ignore[index]
        # "python" is what ipykernel installs: jupyter_client starts it as the server's own
        # interpreter (sys.executable), which is the one ctas7 ran JupyterLab with
        assert python == "python" or Path(python).resolve() == Path(sys.executable).resolve()
        with urllib.request.urlopen(f"{base}/lab?token=t0ken", timeout=10) as resp:
            assert resp.status == 200
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(30)
