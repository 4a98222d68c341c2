"""The dashboard in a real browser: clean load, seed attributes, live rows, schema, filters."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from ctas7_panel import events as ev
from ctas7_panel.events import Event
from tests.browser.conftest import DashboardServer, start_server, stop_server

pytestmark = pytest.mark.browser

SEED_COMPONENTS = (
    "telemetry-status",
    "schema-indicator",
    "event-stream",
    "telemetry-event",
    "schema-details",
    "test-results",
    "neural-mux-metrics",
    "latency-charts",
    "bridge-health",
)
LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "blob:", "data:")


def watch_console(page: Page) -> list[str]:
    """Console errors and warnings (and page errors) of our making, as they come."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            problems.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    return problems


def open_dashboard(page: Page, server: DashboardServer) -> None:
    page.goto(server.url)
    page.wait_for_selector("[data-component=telemetry-event]", timeout=15_000)


def test_page_loads_clean_offline_with_every_seed_component(
    page: Page, dashboard_server: DashboardServer, artifacts: Path
) -> None:
    problems = watch_console(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.set_viewport_size({"width": 1440, "height": 900})
    open_dashboard(page, dashboard_server)
    for component in SEED_COMPONENTS:
        expect(page.locator(f"[data-component={component}]").first).to_be_attached()
    expect(page.locator('[data-route="mcp://telemetry/status"]')).to_have_count(1)
    expect(page.locator('[data-route="mcp://telemetry/events"]')).to_have_count(1)
    expect(page.locator('[data-status-of="bus"][data-status="connected"]')).to_have_count(1)
    # let the slow sections (charts, KPIs, tables: once a second) update a few times
    total = page.locator("[data-component=event-list]")
    first = int(total.get_attribute("data-total") or 0)
    expect(total).not_to_have_attribute("data-total", str(first), timeout=5000)
    expect(page.locator("[data-metric=events_per_s] .value")).not_to_have_text("—", timeout=5000)
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    assert [u for u in requests if not u.startswith(LOCAL)] == []
    assert problems == []
    assert (artifacts / "dashboard.png").stat().st_size > 10_000


def test_an_event_sent_to_the_bridge_appears_as_a_row_within_one_second(
    page: Page, dashboard_server: DashboardServer
) -> None:
    open_dashboard(page, dashboard_server)
    event = Event.create(
        "qa5_validation", {"status": "valid", "probe": "browser"}, source_node="qa5"
    )
    assert dashboard_server.send(event) == {"ack": event.event_id}
    # from the bridge's ack: within 1 s in the live list
    row = page.locator(f'[data-component=telemetry-event][data-event-id="{event.event_id}"]')
    row.wait_for(state="attached", timeout=1000)
    assert row.get_attribute("data-event-type") == "qa5_validation"
    expect(page.locator(f'tr[data-row-id="{event.event_id}"]')).to_have_count(1, timeout=1000)


def test_a_rejected_event_is_answered_with_the_field_and_the_page_keeps_running(
    page: Page, dashboard_server: DashboardServer
) -> None:
    from websockets.sync.client import connect

    open_dashboard(page, dashboard_server)
    with connect(dashboard_server.ingest_url) as ws:
        ws.send('{"event_type": "task_executed", "payload": {}}')
        answer = ws.recv(timeout=5)
    # the answer names one field the envelope lacks (which one first is the validator's order)
    assert orjson.loads(answer)["field"] in {"event_id", "timestamp", "source_node"}
    good = ev.qa5_validation(status="valid")
    dashboard_server.send(good)
    page.locator(f'[data-event-id="{good.event_id}"]').wait_for(state="attached", timeout=1000)


@pytest.fixture
def quiet_dashboard_server() -> Iterator[DashboardServer]:
    """A dashboard whose stand-in sends no synthetic traffic: its schema events would race
    with the one the test sends."""
    home = Path(tempfile.mkdtemp(prefix="ctas7-browser-quiet-"))
    server = start_server(home, extra_env={"CTAS7_DEMO_RATE": "0"})
    try:
        yield server
    finally:
        stop_server(server)
        shutil.rmtree(home, ignore_errors=True)


def test_a_schema_change_updates_the_schema_indicator(
    page: Page, quiet_dashboard_server: DashboardServer
) -> None:
    dashboard_server = quiet_dashboard_server
    page.goto(dashboard_server.url)
    page.wait_for_selector("[data-component=schema-indicator]", timeout=15_000)
    new_hash = f"{time.time_ns():x}".rjust(64, "e")
    change = ev.schema_updated(
        new_hash=new_hash,
        old_hash=None,
        schema_path="./database/supabase_schema.ts",
        table_count=8,
        tables=[{"name": f"t{i}", "column_count": i + 1} for i in range(8)],
        diff={"text": "+ table t7"},
    )
    dashboard_server.send(change)
    indicator = page.locator(f'[data-component=schema-indicator][data-schema-hash="{new_hash}"]')
    # a deadline, not the budget (event to DOM: benchmarks/dashboard.py)
    indicator.wait_for(state="attached", timeout=10_000)
    assert new_hash[:8] in indicator.inner_text()
    details = page.locator("[data-component=schema-details]")
    expect(details.locator("[data-metric=table-count]")).to_contain_text("8")
    expect(page.locator("[data-metric=schema-diff]")).to_contain_text("+ table t7")
    expect(page.locator("[data-component=notification]")).to_contain_text("schema updated")


def test_filter_by_type_shows_only_that_type_and_a_row_opens_its_payload(
    page: Page, dashboard_server: DashboardServer, artifacts: Path
) -> None:
    open_dashboard(page, dashboard_server)
    marker = Event.create("browser_probe", {"needle": "haystack-42"}, source_node="browser")
    dashboard_server.send(marker)
    page.locator(f'[data-event-id="{marker.event_id}"]').wait_for(state="attached", timeout=2000)
    page.locator('[data-filter=types] button[data-value="browser_probe"]').click()
    expect(
        page.locator('[data-filter=types] button[data-value="browser_probe"]')
    ).to_have_attribute("aria-pressed", "true")
    listed = page.locator("[data-component=telemetry-event]")
    expect(listed).to_have_count(1, timeout=2000)
    assert listed.first.get_attribute("data-event-type") == "browser_probe"
    rows = page.locator("tr[data-row-id]")
    expect(rows).to_have_count(1, timeout=2000)
    # more traffic of other types keeps flowing; the filtered views stay filtered: a probe sent
    # after it shows (in the list, then in the table) once the dashboard has handled it
    dashboard_server.send(ev.qa5_validation(status="valid"))
    after = Event.create("browser_probe", {"needle": "after"}, source_node="browser")
    dashboard_server.send(after)
    page.locator(f'[data-event-id="{after.event_id}"]').wait_for(state="attached", timeout=10_000)
    page.locator(f'tr[data-row-id="{after.event_id}"]').wait_for(state="attached", timeout=10_000)
    expect(listed).to_have_count(2)
    assert {e.get_attribute("data-event-type") for e in listed.all()} == {"browser_probe"}
    expect(rows).to_have_count(2)
    page.locator(f'tr[data-row-id="{marker.event_id}"]').click()
    viewer = page.locator(
        f'[data-component=payload-viewer][data-event-id-shown="{marker.event_id}"]'
    )
    expect(viewer.get_by_text('"haystack-42"').first).to_be_visible(timeout=2000)
    page.screenshot(path=str(artifacts / "dashboard-filtered.png"), full_page=True)


def test_outside_text_in_the_live_list_stays_text(
    page: Page, dashboard_server: DashboardServer
) -> None:
    open_dashboard(page, dashboard_server)
    evil = '"><img src=x onerror="window.__pwned=1">'
    event = Event.create("browser_probe", {"note": evil}, source_node=evil)
    dashboard_server.send(event)
    row = page.locator(f'[data-component=telemetry-event][data-event-id="{event.event_id}"]')
    row.wait_for(state="attached", timeout=2000)
    assert row.get_attribute("data-source-node") == evil
    assert evil in row.inner_text()
    expect(page.locator("[data-component=event-list] img")).to_have_count(0)
    # the filters offer the new source: labelled as text, not parsed as HTML
    choice = page.locator("[data-filter=sources] button", has_text=evil)
    expect(choice.first).to_be_attached(timeout=3000)
    assert choice.first.get_attribute("data-value") == evil
    expect(page.locator("[data-filter] img")).to_have_count(0)
    assert page.evaluate("() => window.__pwned") is None
