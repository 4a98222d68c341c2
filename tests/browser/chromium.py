"""How every browser test (and ``scripts/screenshots.py``) starts Chromium and the dashboard.
Plain Python, no pytest: also imported by ``access_probe`` inside a network namespace.

Debian's Chromium, driven by Playwright through ``executable_path`` (``playwright install``
cannot download here), with the flags that keep it from calling home; and the ``panel serve``
command line of the app on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def panel_serve_command(port: int, *extra: str) -> list[str]:
    """``panel serve ctas7_panel/app.py`` on 127.0.0.1:``port`` (websocket origin allowed)."""
    return [
        sys.executable,
        "-m",
        "panel",
        "serve",
        str(ROOT / "ctas7_panel" / "app.py"),
        "--port",
        str(port),
        "--address",
        "127.0.0.1",
        "--allow-websocket-origin",
        f"127.0.0.1:{port}",
        *extra,
    ]
