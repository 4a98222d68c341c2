"""The dashboard as a person uses it: row identity under sort, filter and live traffic; a
phone-width layout that page-scrolls to every component; a console without our warnings."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ctas7_panel.events import Event
from tests.browser.conftest import DashboardServer
from tests.browser.test_dashboard import SEED_COMPONENTS, open_dashboard, watch_console

pytestmark = pytest.mark.browser

PROBE_TYPE = "identity_probe"


class Traffic:
    """Events sent to the dashboard's ingest at ``rate``/s from a thread until stopped."""

    def __init__(self, server: DashboardServer, rate: float = 15.0) -> None:
        self.server = server
        self.period = 1.0 / rate
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def _run(self) -> None:
        from websockets.sync.client import connect

        with connect(self.server.ingest_url, open_timeout=5) as ws:
            i = 0
            while not self._stop.wait(self.period):
                i += 1
                source = ("probe-a", "probe-b")[i % 2]
                event = Event.create(PROBE_TYPE, {"i": i, "note": f"probe {i}"}, source_node=source)
                ws.send(event.to_json().decode())
                ws.recv(timeout=5)
                self.sent.append(event.event_id)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def traffic(dashboard_server: DashboardServer) -> Iterator[Traffic]:
    with Traffic(dashboard_server) as t:
        yield t


# every element matching a selector, across the page's nested shadow roots
DEEP = """
const deep = (selector) => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.matches(selector)) out.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return out;
};
"""
NEWEST_IDS = (
    "(n) => {"
    + DEEP
    + "return deep('tr[data-row-id]').map((tr) => [tr.getAttribute('data-row-id'), tr._row.ts])"
    ".sort((a, b) => b[1] - a[1]).slice(0, n).map((p) => p[0]); }"
)
ONLY_TYPE = (
    "(t) => {" + DEEP + "const rows = deep('tr[data-row-id]');"
    " return rows.length > 0 && rows.every((tr) => tr.getAttribute('data-event-type') === t); }"
)


def click_and_check(page: Page, event_id: str, *, event_type: str | None = None) -> None:
    """Point at the table (as a person does: its rows then hold still), click the row of
    ``event_id``; the payload shown must be that event's."""
    page.locator("[data-component=event-table] thead").hover()
    expect(page.locator("[data-component=event-table]")).to_have_attribute("data-paused", "true")
    row = page.locator(f'tr[data-row-id="{event_id}"]')
    shown_type = row.locator("td.c-type").inner_text()
    row.click()
    viewer = page.locator(f'[data-component=payload-viewer][data-event-id-shown="{event_id}"]')
    viewer.wait_for(state="attached", timeout=5000)
    payload = json.loads(viewer.locator("pre").inner_text())
    assert payload["event_id"] == event_id
    assert payload["event_type"] == shown_type
    if event_type is not None:
        assert payload["event_type"] == event_type
    expect(page.locator(f'tr.selected[data-row-id="{event_id}"]')).to_have_count(1)
    expect(page.locator("tr.selected")).to_have_count(1)


def test_twenty_clicks_under_sorting_filtering_and_live_traffic_each_show_their_own_event(
    page: Page, dashboard_server: DashboardServer, traffic: Traffic, artifacts: Path
) -> None:
    problems = watch_console(page)
    page.set_viewport_size({"width": 1440, "height": 900})
    open_dashboard(page, dashboard_server)
    rng = random.Random(15)
    expect(page.locator("tr[data-row-id]").nth(39)).to_be_attached(timeout=15_000)
    clicks = 0

    def newest(n: int) -> list[str]:
        ids: list[str] = page.evaluate(NEWEST_IDS, n)
        return ids

    # newest first (the default); rows keep arriving at ~18/s
    for event_id in rng.sample(newest(30), 7):
        click_and_check(page, event_id)
        clicks += 1
    # sorted by type, then by source (descending, ascending)
    page.locator("th[data-key=type]").click()
    expect(page.locator("table[data-sort]")).to_have_attribute("data-sort", "type:desc")
    for event_id in rng.sample(newest(30), 4):
        click_and_check(page, event_id)
        clicks += 1
    page.locator("th[data-key=source]").click()
    page.locator("th[data-key=source]").click()
    expect(page.locator("table[data-sort]")).to_have_attribute("data-sort", "source:asc")
    for event_id in rng.sample(newest(30), 3):
        click_and_check(page, event_id)
        clicks += 1
    # filtered to the probe type: only probes are listed, each click shows its own probe
    page.locator(f'[data-filter=types] button[data-value="{PROBE_TYPE}"]').click()
    page.wait_for_function(ONLY_TYPE, arg=PROBE_TYPE, timeout=5000)
    for event_id in rng.sample(newest(20), 6):
        click_and_check(page, event_id, event_type=PROBE_TYPE)
        clicks += 1
    assert clicks == 20
    # the rows that arrived while the pointer was on the table are added once it leaves
    (held,) = newest(1)
    page.locator("[data-component=event-stream] .ctas7-title").hover()
    expect(page.locator("[data-component=event-table]")).to_have_attribute("data-paused", "false")
    page.wait_for_function(f"(held) => ({NEWEST_IDS})(1)[0] !== held", arg=held, timeout=5000)
    page.screenshot(path=str(artifacts / "dashboard-row-identity.png"))
    assert len(traffic.sent) > 50  # the clicks happened while events kept arriving
    assert problems == []


def test_a_click_on_the_live_list_opens_the_same_event(
    page: Page, dashboard_server: DashboardServer
) -> None:
    open_dashboard(page, dashboard_server)
    page.locator("[data-component=event-list]").hover()  # the list holds still under the pointer
    expect(page.locator("[data-component=event-list]")).to_have_attribute("data-paused", "true")
    item = page.locator("[data-component=telemetry-event]").nth(2)
    event_id = item.get_attribute("data-event-id")
    assert event_id
    page.locator(f'[data-component=telemetry-event][data-event-id="{event_id}"]').click()
    viewer = page.locator(f'[data-component=payload-viewer][data-event-id-shown="{event_id}"]')
    viewer.wait_for(state="attached", timeout=5000)
    assert json.loads(viewer.locator("pre").inner_text())["event_id"] == event_id


# Every element the person must reach, its scroll containers (crossing shadow roots) and its
# box after the page (only the page) is scrolled to it.
REACH = (
    "(selector) => {"
    + DEEP
    + """
  const el = deep(selector)[0];
  if (!el) return null;
  const traps = [];
  for (let n = el.parentNode; n; n = n.parentNode || n.host) {
    if (!(n instanceof Element)) { if (n.host) { n = n.host; } else continue; }
    const cs = getComputedStyle(n);
    if (['auto', 'scroll'].includes(cs.overflowY) && n.scrollHeight > n.clientHeight + 1
        && n !== document.scrollingElement && n !== document.body) {
      traps.push(n.tagName + '.' + n.className);
    }
  }
  const before = el.getBoundingClientRect();
  window.scrollTo(0, window.scrollY + before.top - 20);
  const r = el.getBoundingClientRect();
  return {traps, left: r.left, right: r.right, top: r.top, bottom: r.bottom,
          width: r.width, height: r.height, visible: el.checkVisibility()};
}
"""
)


@pytest.mark.parametrize("width,height", [(390, 844)])
def test_phone_width_every_component_is_reached_by_scrolling_the_page(
    page: Page, dashboard_server: DashboardServer, artifacts: Path, width: int, height: int
) -> None:
    problems = watch_console(page)
    page.set_viewport_size({"width": width, "height": height})
    open_dashboard(page, dashboard_server)
    expect(page.locator("tr[data-row-id]").first).to_be_attached(timeout=10_000)
    page.locator("[data-component=telemetry-event]").first.click()  # fills the payload viewer
    page.locator("[data-component=payload-viewer] pre").wait_for(state="attached", timeout=5000)
    doc = page.evaluate(
        "() => ({sw: document.scrollingElement.scrollWidth, sh:"
        " document.scrollingElement.scrollHeight, ch: document.scrollingElement.clientHeight})"
    )
    assert doc["sw"] <= width, f"the page is wider than the phone: {doc}"
    assert doc["sh"] > doc["ch"], "the page itself should scroll (the panels are taller)"
    targets = [
        *(f"[data-component={c}]" for c in SEED_COMPONENTS),
        "[data-component=event-table]",
        "[data-component=payload-viewer]",
        "[data-component=event-list]",
        "[data-action=replay-dead-letters]",
        "[data-filter=types]",
        "[data-filter=sources]",
        "[data-table=schema-tables]",
        "[data-table=bridge-targets]",
        ".bk-Canvas, canvas",
    ]
    for selector in targets:
        box = page.evaluate(REACH, selector)
        assert box is not None, f"{selector} is not on the page"
        assert box["traps"] == [], f"{selector} sits in an inner scroll pane: {box['traps']}"
        assert box["visible"] and box["width"] > 0 and box["height"] > 0, (selector, box)
        assert box["left"] >= -1 and box["right"] <= width + 1, f"{selector} is clipped: {box}"
        assert 0 <= box["top"] < height, f"{selector} not brought into view: {box}"
    # the viewer's hint reads as a line, not one word per line
    page.goto(dashboard_server.url)
    hint = page.locator("[data-component=payload-viewer] .ctas7-caption")
    hint.wait_for(state="attached", timeout=15_000)
    assert (hint.bounding_box() or {"height": 999})["height"] < 60
    page.screenshot(path=str(artifacts / "dashboard-390.png"), full_page=True)
    assert problems == []
