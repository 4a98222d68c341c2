"""The dashboard's markup: escaped text, one dark theme, no emoji, charts with ranges."""

from __future__ import annotations

import json
import math
import re
from html import unescape

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.digest import Digest
from ctas7_panel.dashboard.models import DashboardState
from ctas7_panel.dashboard.session import SessionFeed
from ctas7_panel.dashboard.tallies import ComponentStatus
from ctas7_panel.dashboard.views.latency import chart_ranges
from ctas7_panel.events import Event

EMOJI = re.compile("[\U0001f000-\U0001faff\u2705\u274c\u2b50\ufe0f]")


def test_payload_json_is_escaped_marked_for_colour_and_reads_back_as_the_same_json() -> None:
    value = {"event_id": "e<1>", "payload": {"n": 1.5, "ok": True, "none": None, "s": '"q" 42'}}
    html = markup.json_html(value)
    assert "<1>" not in html and "e&lt;1&gt;" in html
    assert '<span class="k">&quot;payload&quot;</span>' in html
    assert '<span class="n">1.5</span>' in html and '<span class="l">true</span>' in html
    assert '<span class="s">&quot;\\&quot;q\\&quot; 42&quot;</span>' in html  # 42 stays in it
    assert json.loads(unescape(re.sub(r"<[^>]+>", "", html))) == value


def test_a_huge_payload_is_cut_with_a_note() -> None:
    html = markup.json_html({"blob": "x" * 50_000}, limit=1000)
    assert len(html) < 1200 and "more characters" in html


def test_payload_view_names_the_event_it_shows_or_says_what_to_do() -> None:
    assert 'data-event-id-shown=""' in markup.payload_view({})
    assert "Click a row" in markup.payload_view({})
    assert 'data-event-id-shown="a&quot;b"' in markup.payload_view({"event_id": 'a"b'})


def test_tables_escape_cells_and_say_when_empty() -> None:
    html = markup.html_table("t", ("name", "n"), [("<b>x</b>", 3)], numeric=("n",))
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and 'class="num"' in html
    assert "nothing here" in markup.html_table("t", ("a",), [], empty="nothing here")


def test_the_schema_mark_is_an_icon_not_an_emoji() -> None:
    for status in ("updated", "unchanged", "cached", "error", "unknown"):
        bar = markup.status_bar([ComponentStatus("bus", True, 1.0)], "ab" * 32, status)
        assert not EMOJI.search(bar), status
        assert f'data-icon="{status}"' in bar and "<svg" in bar


def test_sparklines_and_histograms_draw_what_they_get() -> None:
    assert "stroke-dasharray" in markup.sparkline([])  # nothing yet: a flat dashed line
    line = markup.sparkline([1.0, math.nan, 3.0, 2.0])
    assert line.count(",") == 3  # three finite points
    assert markup.histogram_svg({}) == ""
    hist = markup.histogram_svg({"left": [0, 10], "right": [10, 20], "count": [1, 4]})
    assert hist.count("<rect") == 2 and "0 ms" in hist and "20 ms" in hist


def test_chart_ranges_are_set_even_when_there_is_no_data() -> None:
    (x0, x1), (y0, y1) = chart_ranges({}, 100_000.0)
    assert (x0, x1) == (40_000.0, 100_000.0) and (y0, y1) == (0.0, 10.0)
    cols = {"t": [90_000.0, 120_000.0], "legion_p50": [5.0, math.nan], "legion_p99": [40.0, 80.0]}
    (x0, x1), (y0, y1) = chart_ranges(cols, 100_000.0)
    assert x1 == 120_000.0 and x0 == 60_000.0 and y1 == 80.0 * 1.15


def test_a_test_run_status_is_shown_under_the_test_results() -> None:
    d = Digest()
    state = DashboardState()
    feed = SessionFeed(d, state)
    status = {"status": "unavailable", "message": "pytest is not installed"}
    d.observe("events", Event.create("test_run_status", status, source_node="demo"), 1.0)
    feed.flush()
    assert state.tests is not None
    assert state.tests.note == "unavailable: pytest is not installed"


def test_a_filter_resets_the_table_to_the_newest_matching_rows() -> None:
    d = Digest()
    state = DashboardState()
    now = [0.0]
    feed = SessionFeed(d, state, clock=lambda: now[0])
    m = state.events
    assert m is not None
    events = [Event.create(t, {}, source_node="s") for t in ("a", "b", "a", "b", "a")]
    for i, e in enumerate(events):
        d.observe("events", e, float(i))
    feed.flush()
    m.types = ["b"]
    assert [r["id"] for r in m.table_rows] == [events[3].event_id, events[1].event_id]
    d.observe("events", extra := Event.create("a", {}, source_node="s"), 9.0)
    d.observe("events", wanted := Event.create("b", {}, source_node="s"), 9.5)
    now[0] = 1.0
    feed.flush()  # only the matching row is sent to the table
    assert [r["id"] for r in m.table_batch] == [wanted.event_id] != [extra.event_id]


async def test_endpoint_probes_follow_this_process_gateway_when_it_has_one() -> None:
    """The seed's endpoints are probed where this process's gateway serves them (any free port
    with CTAS7_GATEWAY_PORT=0), else where the settings say."""
    import asyncio
    from types import SimpleNamespace

    from ctas7_panel.dashboard.app import default_probes
    from ctas7_panel.netutil import free_port
    from ctas7_panel.settings import Settings

    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = SimpleNamespace(
        ports={"legion_events": port},
        url=lambda name: f"ws://127.0.0.1:{port}/{name}",
    )
    closed = free_port()
    settings = Settings(legion_endpoint=f"ws://127.0.0.1:{closed}/legion_events")
    async with server:
        served = default_probes(
            settings, SimpleNamespace(services=SimpleNamespace(gateway=gateway))
        )
        assert (await served["legion"]())[0] is True
        alone = default_probes(settings, SimpleNamespace())
        ok, detail = await alone["legion"]()
        assert ok is False and str(closed) in detail


def test_the_schema_panel_shows_a_change_its_tables_and_its_impact() -> None:
    import html

    import panel as pn
    from bokeh.document import Document
    from panel.models.markup import HTML

    from ctas7_panel import events as ev
    from ctas7_panel.dashboard.views.schema import SchemaView

    d = Digest()
    state = DashboardState()
    feed = SessionFeed(d, state)
    root = pn.panel(SchemaView(model=state.schema)).get_root(Document())
    change = ev.schema_updated(
        new_hash="e" * 64,
        old_hash=None,
        schema_path="x",
        table_count=2,
        tables=[{"name": "t<1>", "column_count": 3}, {"name": "u", "column_count": 4}],
        diff={"text": "+ table u"},
    )
    d.observe("events", change, 1.0)
    feed.flush()
    text = "".join(html.unescape(m.text) for m in root.references() if isinstance(m, HTML))
    assert "<div class='value'>2</div>" in text and "+ table u" in text
    assert "t&lt;1&gt;" in text and "schema-impact" in text  # escaped
