"""The live dashboard inside JupyterLab: a real Jupyter server, the committed notebook
``notebooks/04_live_dashboard.ipynb`` run in Chromium, rows arriving live in the cell's output.

Slow for a browser test (~20-40 s: JupyterLab starts, the kernel imports Panel): that is the
price of the real thing, and it is one test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ctas7_panel.events import Event
from ctas7_panel.netutil import free_port
from tests.browser.conftest import ARTIFACTS, ROOT, DashboardServer, stop_group
from tests.browser.test_dashboard import LOCAL, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = ROOT / "notebooks" / "04_live_dashboard.ipynb"
JUPYTERLAB_TIMING = re.compile(r"^warning: Plugin @?[\w/.:-]+ .*(to activate|too long)")
TOKEN = "ctas7-browser-test"
# JupyterLab's own settings for the test: no "official Jupyter news?" prompt over the page, and
# the notebook's kernel starts without a "Select Kernel" dialog
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
}


@dataclass
class Lab:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    ingest: DashboardServer  # only .send is used: the kernel's dashboard ingest


def _kernel_pids(runtime_dir: Path) -> list[int]:
    """Kernels started by this server (their command line names its runtime directory)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if str(runtime_dir).encode() in cmdline and b"ipykernel" in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.fixture
def lab() -> Iterator[Lab]:
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("jupyterlab is missing: pip install -e '.[test]'")
    home = Path(tempfile.mkdtemp(prefix="ctas7-jupyterlab-"))
    root = home / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings_dir = home / "lab-settings"
    for name, value in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port, ingest = free_port(), free_port()
    env = {
        **os.environ,
        "CTAS7_HOME": str(home / ".ctas7"),
        "CTAS7_STORE_URL": f"sqlite:///{home / 'events.db'}",
        "CTAS7_DEV_INGEST_PORT": str(ingest),
        "CTAS7_DEMO_RATE": "0",
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.extension_manager=readonly",  # no PyPI look-ups
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    log = open(home / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        args, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5):
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"jupyter lab did not come up: {(home / 'jupyterlab.log').read_text()[-3000:]}"
                )
            time.sleep(0.3)
        sender = DashboardServer("", f"ws://127.0.0.1:{ingest}/", proc, home)
        yield Lab(f"{base}/lab/tree/{NOTEBOOK.name}?token={TOKEN}", home, proc, sender)
    finally:
        stop_group(proc)  # the server shuts its kernels down on SIGTERM
        deadline = time.monotonic() + 15
        while (left := _kernel_pids(home / "jupyter-runtime")) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in left:
            os.kill(pid, 9)
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(home / "jupyterlab.log", ARTIFACTS / "jupyterlab.log")
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.timeout(300)  # JupyterLab and a kernel importing Panel, on a shared 2-core machine
def test_one_line_in_a_notebook_shows_the_live_dashboard_in_jupyterlab_offline(
    page: Page, lab: Lab, artifacts: Path
) -> None:
    console = watch_console(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(lab.url)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    # the kernel is up (the status bar says so) before the notebook is run
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    output = page.locator(".jp-OutputArea")
    try:
        output.locator("[data-component=event-stream]").wait_for(state="attached", timeout=90_000)
    finally:
        page.screenshot(path=str(artifacts / "dashboard-jupyterlab.png"))
    # rows arrive live in the cell's output
    sent = [
        Event.create("notebook_probe", {"n": i}, source_node="jupyterlab-test") for i in range(3)
    ]
    for event in sent:
        assert lab.ingest.send(event) == {"ack": event.event_id}
        output.locator(
            f'[data-component=telemetry-event][data-event-id="{event.event_id}"]'
        ).wait_for(state="attached", timeout=5000)
        expect(output.locator(f'tr[data-row-id="{event.event_id}"]')).to_have_count(1, timeout=5000)
    # and the page talks back to the kernel: a click shows that row's payload
    output.locator(f'tr[data-row-id="{sent[1].event_id}"]').click()
    viewer = output.locator(
        f'[data-component=payload-viewer][data-event-id-shown="{sent[1].event_id}"]'
    )
    viewer.wait_for(state="attached", timeout=5000)
    assert json.loads(viewer.locator("pre").inner_text())["payload"] == {"n": 1}
    page.screenshot(path=str(artifacts / "dashboard-jupyterlab.png"))
    assert [u for u in requests if not u.startswith(LOCAL)] == []
    # JupyterLab's own timing warnings on a loaded machine ("Plugin @jupyterlab/... took 5077 ms
    # to activate") are not the dashboard's
    assert [m for m in console if not JUPYTERLAB_TIMING.search(m)] == []
