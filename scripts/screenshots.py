"""Screenshots of the dashboard after a minute of demo traffic, at 1440x900 and 390x844.

Starts the app as ``scripts/run-app.sh`` does (``panel serve ctas7_panel/app.py``: embedded
PostgreSQL, the demo activity) in a temporary folder, on free ports (the dashboard and the
websocket gateway, so it never collides with an app already running), waits ``--seconds``,
opens the dashboard in Debian's Chromium at each size, clicks the newest event (the payload
viewer shows it), goes back to the top of the page and writes
``docs/img/dashboard-1440x900.png`` and ``docs/img/dashboard-390x844.png``.

Run: ``.venv/bin/python scripts/screenshots.py [--seconds 60] [--out docs/img]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ((1440, 900), (390, 844))


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    from ctas7_panel.netutil import free_port
    from tests.browser.chromium import ARGS, CHROMIUM, panel_serve_command
    from tests.browser.conftest import stop_group

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="demo traffic first (60)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="ctas7-screenshots-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTAS7_", "CTAS_"))}
    env["CTAS7_GATEWAY_PORT"] = "0"
    log = open(home / "panel-serve.log", "wb")
    proc = subprocess.Popen(
        panel_serve_command(port),
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/app"
    try:
        started = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() - started > 120:
                    raise SystemExit(
                        f"the app did not come up: {(home / 'panel-serve.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            warm = browser.new_page()
            warm.goto(url)  # the first session starts the runtime: the traffic starts now
            warm.wait_for_selector("[data-component=telemetry-event]", timeout=120_000)
            print(f"demo traffic for {args.seconds:.0f} s", file=sys.stderr)
            time.sleep(args.seconds)
            args.out.mkdir(parents=True, exist_ok=True)
            for width, height in SIZES:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url)
                page.wait_for_selector("tr[data-row-id]", state="attached", timeout=60_000)
                page.wait_for_timeout(2500)  # the once-a-second sections (charts, KPIs) are in
                newest = page.locator("[data-component=telemetry-event]").first
                newest.click()
                page.locator("[data-component=payload-viewer] pre").wait_for(timeout=10_000)
                page.mouse.move(0, 0)
                page.evaluate("() => window.scrollTo(0, 0)")  # the top of the page, as opened
                path = args.out / f"dashboard-{width}x{height}.png"
                page.screenshot(path=str(path))
                print(f"{path} ({path.stat().st_size} bytes)")
                page.close()
            browser.close()
    finally:
        stop_group(proc)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
