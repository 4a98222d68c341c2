"""Hub on a real MemoryBus and SQLite store; session feeds; the Panel dashboard object."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from ctas7_panel import events as ev
from ctas7_panel.dashboard.digest import Digest
from ctas7_panel.dashboard.hub import Hub
from ctas7_panel.dashboard.markup import event_row, status_bar
from ctas7_panel.dashboard.models import DashboardState
from ctas7_panel.dashboard.session import SessionFeed
from ctas7_panel.dashboard.tallies import ComponentStatus
from ctas7_panel.events import Event
from ctas7_panel.settings import Settings
from ctas7_panel.store import open_store
from ctas7_panel.streams.bus import MemoryBus


def settings(tmp_path: Path) -> Settings:
    return Settings(hash_cache_path=str(tmp_path / ".last_schema_hash"))


async def wait_for(predicate: Callable[[], object], timeout: float = 3.0) -> None:
    """Poll a condition on shared state (no event to await: the hub owns it)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_hub_folds_raw_and_target_topics_without_taking_from_other_groups(
    tmp_path: Path,
) -> None:
    bus = MemoryBus()
    legion = await bus.subscribe("legion", topic="target.legion")
    async with Hub(bus, None, settings(tmp_path), tick_s=0.05) as hub:
        e = ev.task_executed(task_id="t1", name="index", status="success", duration_ms=3.0)
        await bus.publish(e)
        await bus.publish(e.with_payload({"action": "task_done"}), topic="target.legion")
        await wait_for(lambda: (r := hub.digest.record(e.event_id)) is not None and r.targets)
        record = hub.digest.record(e.event_id)
        assert record is not None and record.raw and record.targets == ["legion"]
        await wait_for(lambda: any(p.routes for p in hub.digest.latency_points.latest(50)))
        assert hub.digest.status.components["bus"].ok
    # the hub has its own group: Legion's group still gets the delivery
    got = await legion.get(10, timeout=0.5)
    assert [m.event.event_id for m in got] == [e.event_id]


async def test_hub_starts_with_the_store_history_and_dead_letter_count(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    old = [ev.qa5_validation(status="valid") for _ in range(5)]
    store.append(old)
    store.add_dead_letter(old[0], "legion", "refused")
    (tmp_path / ".last_schema_hash").write_text("ab" * 32)
    bus = MemoryBus()
    async with Hub(bus, store, settings(tmp_path), history=3, tick_s=0.05, dlq_s=0.05) as hub:
        held = [r.event_id for r in hub.digest.events.since(0).items]
        assert held == [e.event_id for e in old[-3:]]
        assert hub.digest.schema.hash == "ab" * 32
        await wait_for(lambda: hub.digest.bridge.dead_letters == 1)
        assert await hub.replay_dead_letters() == (
            "replay is not available in this process: run `ctas7 dlq replay`"
        )
    store.close()


async def test_hub_survives_a_failing_probe_and_reports_it(tmp_path: Path) -> None:
    async def broken() -> tuple[bool, str]:
        raise OSError("boom")

    async def fine() -> tuple[bool, str]:
        return True, "ok"

    probes = {"legion": broken, "database": fine}
    async with Hub(MemoryBus(), None, settings(tmp_path), probes=probes, tick_s=0.02) as hub:
        await wait_for(lambda: "legion" in hub.digest.status.components)
        assert not hub.digest.status.components["legion"].ok
        assert "boom" in hub.digest.status.components["legion"].detail
        assert hub.digest.status.components["database"].ok
        assert hub.running


def test_a_burst_of_events_becomes_one_batch_per_flush() -> None:
    d = Digest()
    state = DashboardState()
    feed = SessionFeed(d, state)
    batches = []
    assert state.events is not None
    state.events.param.watch(lambda e: batches.append(e.new), "table_batch")
    for i in range(120):
        d.observe(
            "events", ev.task_executed(task_id=str(i), name="n", status="ok", duration_ms=1), i
        )
    feed.flush()
    feed.flush()  # nothing new: no second batch
    assert len(batches) == 1 and len(batches[0]) == 120
    assert {r["type"] for r in batches[0]} == {"task_executed"}
    assert [r["id"] for r in batches[0]] == [r.event_id for r in d.events.latest(120)][::-1]
    assert len(state.events.latest) == state.events.list_size
    assert state.events.latest[0].event.payload["task_id"] == "119"  # newest first


def test_filters_and_selection_work_on_the_session_state() -> None:
    d = Digest()
    state = DashboardState()
    feed = SessionFeed(d, state)
    a = Event.create("alpha", {"n": 1}, source_node="s1")
    b = Event.create("beta", {"n": 2}, source_node="s2")
    d.observe("events", a, 1.0)
    d.observe("events", b, 2.0)
    feed.flush()
    m = state.events
    assert m is not None
    assert m.type_options == ["alpha", "beta"] and m.source_options == ["s1", "s2"]
    m.types = ["alpha"]
    assert [r.event_id for r in m.latest] == [a.event_id]
    m.types, m.sources = [], ["s2"]
    assert [r.event_id for r in m.latest] == [b.event_id]
    m.selected_id = b.event_id
    assert m.detail["payload"] == {"n": 2} and m.detail["payload_origin"] == "raw event"
    m.selected_id = "evt_gone"
    assert "no longer held" in m.detail["note"]


def test_a_new_session_starts_at_the_newest_rows_and_a_slow_one_is_told_what_it_missed() -> None:
    d = Digest(max_events=10)
    state = DashboardState()
    state.events.max_rows = 10  # type: ignore[union-attr]
    feed = SessionFeed(d, state)
    for i in range(25):
        d.observe("events", Event.create("x", {"i": i}, source_node="s"), float(i))
    feed.flush()  # a fresh page shows the newest rows: nothing was missed
    assert state.events is not None and state.events.missed == 0
    assert [r["id"] for r in state.events.table_batch] == [r.event_id for r in d.events.latest(10)][
        ::-1
    ]
    for i in range(25, 40):  # 15 more than the ring holds arrive before the next flush
        d.observe("events", Event.create("x", {"i": i}, source_node="s"), float(i))
    feed.flush()
    assert state.events.missed == 5


def test_markup_escapes_outside_text_and_carries_the_seed_attributes() -> None:
    evil = '"><img src=x onerror=alert(1)>'
    bar = status_bar(
        [ComponentStatus("bus", True, 1.0, detail=evil)], "abcdef0123", "updated", evil, evil
    )
    assert "<img" not in bar and "&lt;img" in bar
    assert (
        'data-component="telemetry-status"' in bar and 'data-route="mcp://telemetry/status"' in bar
    )
    assert 'data-component="schema-indicator"' in bar and "abcdef01" in bar
    assert 'data-status-of="bus" data-status="connected"' in bar


def test_live_list_rows_are_plain_strings_the_browser_sets_as_text() -> None:
    d = Digest()
    evil = Event.create("x", {"q": 1}, source_node="<img src=x onerror=alert(1)>", event_id="id<&>")
    record = d.observe("events", evil, 1.0)
    d.observe("target.legion", evil, 1.1)
    row = event_row(record)
    assert row["id"] == "id<&>" and row["source"] == "<img src=x onerror=alert(1)>"
    assert row["type"] == "x" and row["routes"] == "legion" and row["summary"] == "{q}"


def test_dashboard_renders_as_bokeh_and_in_a_notebook_and_sessions_leave_nothing(
    tmp_path: Path,
) -> None:
    import panel as pn
    from bokeh.document import Document

    from ctas7_panel.dashboard.app import Dashboard

    hub = Hub(MemoryBus(), None, settings(tmp_path))
    shown = ev.qa5_validation(status="valid")
    hub.digest.observe("events", shown, 1.0)
    dash = Dashboard(hub)
    layout = pn.panel(dash)
    root = layout.get_root(Document())  # type: ignore[attr-defined]
    from html import unescape

    from panel.models.markup import HTML
    from panel.models.reactive_html import ReactiveHTML

    html = "".join(unescape(m.text) for m in root.references() if isinstance(m, HTML))
    listed = [
        row["id"]
        for m in root.references()
        if isinstance(m, ReactiveHTML)
        for row in getattr(m.data, "rows", [])
    ]
    assert listed == [shown.event_id] * 2  # in the table and in the live list
    assert 'data-component="bridge-health"' in html
    pn.extension()  # as ctas7_panel.dashboard() does
    column = dash.__panel__()
    data, _ = column._repr_mimebundle_()  # what Jupyter displays for the cell's value
    assert "application/vnd.holoviews_exec.v0+json" in data and "text/html" in data
    assert "cdn.holoviz.org" not in str(data)  # stylesheets from the Jupyter server
    assert dash._callback is None  # no flush before the page has the output
    ((_, client_comm),) = column._comms.values()
    client_comm._on_open({})  # what pyviz_comms calls when the page's comm opens
    callback = dash._callback
    assert callback is not None and callback.running
    dash._on_destroyed(None)  # what Panel calls when the session goes away
    assert dash._callback is None and not callback.running


@pytest.mark.parametrize("rate", [0.0])
async def test_dev_runtime_routes_through_the_real_bridge(tmp_path: Path, rate: float) -> None:
    from ctas7_panel.dashboard._dev_source import DevRuntime

    s = Settings(store_url=f"sqlite:///{tmp_path / 'ev.db'}")
    rt = DevRuntime(s, rate=rate)
    await rt.start()
    try:
        async with Hub(rt.bus, rt.store, s, tick_s=0.05) as hub:
            e = ev.schema_updated(
                new_hash="c" * 64, old_hash="b" * 64, schema_path="s", table_count=3
            )
            await rt.bus.publish(e)
            await wait_for(lambda: hub.digest.schema.hash == "c" * 64)
            await wait_for(lambda: "dashboard" in (hub.digest.record(e.event_id) or e).targets)  # type: ignore[union-attr]
            assert hub.digest.schema.notification == "Database schema updated successfully"
    finally:
        await rt.close()


def test_per_flush_work_follows_what_changed_and_slow_sections_wait_their_period() -> None:
    d = Digest()
    state = DashboardState()
    now = [0.0]
    feed = SessionFeed(d, state, slow_s=1.0, table_s=0.5, clock=lambda: now[0])
    m, bridge = state.events, state.bridge
    assert m is not None and bridge is not None
    sent: dict[str, list[object]] = {"batch": [], "appended": [], "latest": [], "per_target": []}
    m.param.watch(lambda e: sent["batch"].append(e.new), "table_batch")
    for name in ("appended", "latest"):
        m.param.watch(lambda e: sent[e.name].append(e.new), name)
    bridge.param.watch(lambda e: sent["per_target"].append(e.new), "per_target")

    def burst(n: int) -> list[Event]:
        out = [Event.create("x", {"i": i}, source_node="s") for i in range(n)]
        for e in out:
            d.observe("events", e, now[0])
        return out

    def deliver(events: list[Event]) -> None:
        for e in events:
            d.observe("target.legion", e, now[0])  # bumps the bridge section

    feed.flush()  # t=0: first flush, everything sent once
    sent = {k: [] for k in sent}
    first = burst(3)
    now[0] = 0.1
    feed.flush()  # new rows: appended to the list, and (table idle) streamed at once
    assert [[r["id"] for r in rows] for rows in sent["appended"]] == [  # type: ignore[attr-defined]
        [e.event_id for e in first]
    ]
    assert [[r["id"] for r in b] for b in sent["batch"]] == [[e.event_id for e in first]]  # type: ignore[attr-defined]
    assert sent["per_target"] == [] and sent["latest"] == []  # the bridge waits for its second
    deliver(first)
    second = burst(2)
    now[0] = 0.2
    feed.flush()  # the table streamed 0.1 s ago: its rows wait; the list does not
    assert len(sent["appended"]) == 2 and len(sent["batch"]) == 1
    now[0] = 0.3
    feed.flush()  # nothing new: nothing sent
    assert len(sent["appended"]) == 2 and len(sent["batch"]) == 1
    now[0] = 0.6
    feed.flush()  # the table's period passed: the waiting rows, in one stream
    assert [r["id"] for r in sent["batch"][-1]] == [e.event_id for e in second]  # type: ignore[attr-defined]
    now[0] = 1.05
    feed.flush()  # the slow period passed: counters, bridge (once), list refreshed (routes)
    assert (
        m.total == d.events.last_seq == 5 and bridge.delivered == 3 and len(sent["per_target"]) == 0
    )
    (latest,) = sent["latest"]  # the rows first sent without routes, now with them
    assert [r.targets for r in latest] == [[], [], ["legion"], ["legion"], ["legion"]]  # type: ignore[attr-defined]
    now[0] = 1.5
    deliver(second)
    feed.flush()
    assert bridge.delivered == 3  # not before 2.05
    now[0] = 2.1
    feed.flush()
    assert bridge.delivered == 5
