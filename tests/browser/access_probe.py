"""What a browser gets from the dashboard: run in the test process, or inside a network
namespace (``ip netns exec NS python -m tests.browser.access_probe '<json>'``) so that the
browser is another machine as far as the server can tell.

``observe(scenarios)`` opens each scenario's page in Debian's Chromium and reports the gate's
page (``access``: ``login``/``refused``/None), whether the dashboard is there, whether the
replay button is, and the cookies the browser holds afterwards.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from tests.browser.chromium import ARGS, CHROMIUM

GATE = "[data-access]"
DASHBOARD = "[data-component=schema-indicator]"
REPLAY = "button[data-action=replay-dead-letters]"


def observe(scenarios: list[dict[str, Any]], timeout_ms: int = 45_000) -> list[dict[str, Any]]:
    """One browser; per scenario a fresh context (no shared cookies): ``url``, optional
    ``headers`` (sent with every request) and ``sign_in`` (tokens typed in turn while the
    sign-in form shows)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            return [_one(browser, timeout_ms=timeout_ms, **s) for s in scenarios]
        finally:
            browser.close()


def _one(
    browser: Any,
    *,
    url: str,
    headers: dict[str, str] | None = None,
    sign_in: list[str] | None = None,
    timeout_ms: int,
) -> dict[str, Any]:
    context = browser.new_context(extra_http_headers=headers or {})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(f"{GATE}, {DASHBOARD}", timeout=timeout_ms)
        messages: list[str] = []
        wrong = 0
        for token in sign_in or []:
            if not page.locator(GATE).count():
                break
            page.fill("input[type=password]", token)
            page.get_by_role("button", name="Sign in").click()
            refused = f"[data-signin=wrong][data-attempt='{wrong + 1}']"
            page.wait_for_selector(f"{DASHBOARD}, {refused}", timeout=timeout_ms)
            if page.locator(refused).count():
                wrong += 1
                messages.append("wrong")
            else:
                messages.append("ok")
        if page.locator(DASHBOARD).count():
            page.wait_for_selector("[data-component=bridge-health]", timeout=timeout_ms)
        gate = page.locator(GATE)
        return {
            "access": gate.first.get_attribute("data-access") if gate.count() else None,
            "dashboard": page.locator(DASHBOARD).count() > 0,
            "replay": page.locator(REPLAY).count() > 0,
            "messages": messages,
            "cookies": {c["name"]: c["value"] for c in context.cookies()},
        }
    finally:
        context.close()


def main() -> None:
    sys.stdout.write(orjson.dumps(observe(orjson.loads(sys.argv[1]))).decode() + "\n")


if __name__ == "__main__":
    main()
