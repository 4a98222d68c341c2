"""The HTML each panel shows, with the seed's Playwright-discoverable attributes. Pure.

Every panel's root carries ``data-component`` (and ``data-route``, the ``mcp://telemetry/...``
address of what it shows); values users' tests assert on carry ``data-metric``; events carry
``data-component="telemetry-event" data-event-type=... data-event-id=...`` as in the seed.
Everything interpolated is escaped: event ids, types and payload text come from the outside.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import orjson

from ctas7_panel.dashboard.records import Record
from ctas7_panel.dashboard.tallies import ComponentStatus

ROUTES = {
    "telemetry-status": "mcp://telemetry/status",
    "event-stream": "mcp://telemetry/events",
    "schema-details": "mcp://telemetry/schema",
    "test-results": "mcp://telemetry/tests",
    "neural-mux-metrics": "mcp://telemetry/neural_mux",
    "latency-charts": "mcp://telemetry/latency",
    "bridge-health": "mcp://telemetry/bridge",
}
COMPONENT_ORDER = ("bus", "database", "store", "legion", "dashboard", "neural_mux")


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def clock(ts: float | None) -> str:
    """``HH:MM:SS`` local time, or an em dash (also for a time the clock cannot show)."""
    try:
        return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "—"
    except (OverflowError, OSError, ValueError):
        return "—"


def open_panel(component: str, title: str, extra: str = "") -> str:
    route = ROUTES.get(component, f"mcp://telemetry/{component}")
    return (
        f'<div class="ctas7-panel" data-component="{_a(component)}" data-route="{_a(route)}"'
        f"{extra}><h3 class='ctas7-title'>{escape(title)}</h3>"
    )


def status_bar(
    components: Iterable[ComponentStatus],
    schema_hash: str,
    schema_status: str,
    notification: str = "",
    notification_type: str = "info",
) -> str:
    order = {name: i for i, name in enumerate(COMPONENT_ORDER)}
    items = []
    for c in sorted(components, key=lambda c: (order.get(c.name, 99), c.name)):
        state = "connected" if c.ok else "disconnected"
        items.append(
            f'<span class="ctas7-chip {state}" data-status-of="{_a(c.name)}" '
            f'data-status="{state}" title="{_a(c.detail)}">'
            f"{'●' if c.ok else '○'} {escape(c.name)} "
            f"<small>{'up' if c.ok else 'down'} since {clock(c.since)}</small></span>"
        )
    mark = status_icon(schema_status)
    short = schema_hash[:8] if schema_hash else "unknown"
    indicator = (
        f'<span class="ctas7-chip schema {_a(schema_status)}" data-component="schema-indicator" '
        f'data-action="show-schema-details" data-schema-hash="{_a(schema_hash)}" '
        f'data-schema-status="{_a(schema_status)}" title="schema {_a(schema_status)}">'
        f"Schema {escape(short)} {mark}</span>"
    )
    note = ""
    if notification:
        note = (
            f'<span class="ctas7-note {_a(notification_type)}" data-component="notification" '
            f'data-notification-type="{_a(notification_type)}">{escape(notification)}</span>'
        )
    return (
        f'<div class="ctas7-status" data-component="telemetry-status" '
        f'data-route="{ROUTES["telemetry-status"]}">{indicator}{"".join(items)}{note}</div>'
    )


def status_icon(status: str) -> str:
    """An inline SVG mark for a schema status (no emoji: they need a font many systems lack)."""
    path = ICONS.get(status, ICONS["updated"])
    return (
        f'<svg class="ctas7-icon" data-icon="{_a(status)}" viewBox="0 0 16 16" width="13" '
        f'height="13" role="img" aria-label="{_a(status)}"><path d="{path}" fill="none" '
        'stroke="currentColor" stroke-width="2.2" stroke-linecap="round" '
        'stroke-linejoin="round"/></svg>'
    )


ICONS = {
    "updated": "M3 8.5l3.2 3.2L13 4.8",
    "unchanged": "M3 8.5l3.2 3.2L13 4.8",
    "cached": "M3 8.5l3.2 3.2L13 4.8",
    "error": "M4 4l8 8M12 4l-8 8",
    "unknown": "M3 8h.01M8 8h.01M13 8h.01",
}


def event_row(record: Record) -> dict[str, str]:
    """One row of the live list as plain strings (the browser builds the same element)."""
    e = record.event
    return {
        "id": e.event_id,
        "type": e.event_type,
        "source": e.source_node,
        "routes": ", ".join(record.targets) if record.targets else "—",
        "time": clock(e.timestamp),
        "summary": record.summary,
    }


# The browser's element for one ``event_row`` dict ``r`` (text set as text: nothing outside is
# parsed as HTML), as ``const el``.
LIST_ROW_JS = """
const el = document.createElement('div');
el.className = 'ctas7-event';
el.setAttribute('data-component', 'telemetry-event');
el.setAttribute('data-event-type', r.type);
el.setAttribute('data-event-id', r.id);
el.setAttribute('data-source-node', r.source);
const b = document.createElement('b');
b.textContent = r.type;
const small = document.createElement('small');
small.textContent = '(' + r.time + ', ' + r.source + ')';
const summary = document.createElement('span');
summary.className = 'ctas7-summary';
summary.textContent = r.summary;
el.append(b, ' → ' + r.routes + ' ', small, ' ', summary);
"""


def metric(name: str, label: str, value: object) -> str:
    return (
        f'<div class="ctas7-metric" data-metric="{_a(name)}">'
        f"<div class='value'>{escape(str(value))}</div><div class='label'>{escape(label)}</div>"
        "</div>"
    )


def metrics_row(component: str, title: str, metrics: Mapping[str, tuple[str, object]]) -> str:
    inner = "".join(metric(name, label, value) for name, (label, value) in metrics.items())
    return f"{open_panel(component, title)}<div class='ctas7-metrics'>{inner}</div></div>"


def table_row(record: Record) -> dict[str, str | float]:
    """One row of the event table (``ts`` sorts; the rest is set as text in the browser)."""
    e = record.event
    return {
        "id": e.event_id,
        "ts": e.timestamp,
        "time": clock_ms(e.timestamp),
        "type": e.event_type,
        "source": e.source_node,
        "summary": record.summary,
    }


def clock_ms(ts: float) -> str:
    """``HH:MM:SS.mmm`` local time; ``—`` for a time the clock cannot show (an event that did
    not come through the edge may carry any number)."""
    try:
        return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
    except (OverflowError, OSError, ValueError):
        return "—"


def caption(text: str, metric_name: str = "") -> str:
    attr = f' data-metric="{_a(metric_name)}"' if metric_name else ""
    return f'<p class="ctas7-caption"{attr}>{escape(text)}</p>'


def html_table(
    name: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    empty: str = "nothing yet",
    numeric: Iterable[str] = (),
) -> str:
    """A small static table (escaped text), dark like the rest; ``data-table`` names it."""
    right = set(numeric)
    head = "".join(f'<th class="{"num" if c in right else ""}">{escape(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"num" if c in right else ""}" title="{_a(v)}">{escape(str(v))}</td>'
            for c, v in zip(columns, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr class="empty"><td colspan="{len(columns)}">{escape(empty)}</td></tr>')
    return (
        f'<div class="ctas7-table-box"><table class="ctas7-table" data-table="{_a(name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


_JSON_TOKEN = re.compile(
    r'(?P<str>"(?:\\.|[^"\\])*")(?P<colon>\s*:)?'
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<lit>\b(?:true|false|null)\b)"
)
PAYLOAD_CHARS = 20_000


def json_html(value: Any, *, limit: int = PAYLOAD_CHARS) -> str:
    """``value`` as indented JSON, escaped, with keys, strings, numbers and literals marked
    (``<span class="k|s|n|l">``) for the dark theme's colours; cut at ``limit`` characters."""
    text = orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
    ).decode()
    more = len(text) - limit
    if more > 0:
        text = text[:limit]
    out: list[str] = []
    pos = 0
    for m in _JSON_TOKEN.finditer(text):
        out.append(escape(text[pos : m.start()]))
        if m.group("str") is not None:
            cls = "k" if m.group("colon") else "s"
            out.append(f'<span class="{cls}">{escape(m.group("str"))}</span>')
            out.append(escape(m.group("colon") or ""))
        elif m.group("num") is not None:
            out.append(f'<span class="n">{escape(m.group("num"))}</span>')
        else:
            out.append(f'<span class="l">{m.group("lit")}</span>')
        pos = m.end()
    out.append(escape(text[pos:]))
    if more > 0:
        out.append(f"\n… {more} more characters")
    return "".join(out)


def payload_view(detail: Mapping[str, Any]) -> str:
    """The payload viewer: the selected event's envelope and delivered payloads, or a hint."""
    if not detail:
        return (
            '<div class="ctas7-payload" data-component="payload-viewer" data-event-id-shown="">'
            '<p class="ctas7-caption">Click a row of the table or the list to see its payload.'
            "</p></div>"
        )
    shown = str(detail.get("event_id", ""))
    return (
        f'<div class="ctas7-payload" data-component="payload-viewer" '
        f'data-event-id-shown="{_a(shown)}"><pre class="ctas7-json">{json_html(detail)}</pre>'
        "</div>"
    )


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28) -> str:
    """A small SVG line of ``values`` (finite ones; a flat dashed line when fewer than two)."""
    ys = [v for v in values if math.isfinite(v)]
    if len(ys) < 2:
        mid = height / 2
        return (
            f'<svg class="ctas7-spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none"'
            f' aria-hidden="true"><line x1="0" y1="{mid}" x2="{width}" y2="{mid}" '
            'stroke-dasharray="3 3"/></svg>'
        )
    lo, hi = min(ys), max(ys)
    span = hi - lo or 1.0
    step = width / (len(ys) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (y - lo) / span * (height - 4):.1f}"
        for i, y in enumerate(ys)
    )
    return (
        f'<svg class="ctas7-spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'aria-hidden="true"><polyline points="{points}"/></svg>'
    )


def histogram_svg(
    hist: Mapping[str, Sequence[float]], *, width: int = 400, height: int = 90
) -> str:
    """Bars of a duration histogram (``left``, ``right``, ``count``) with its range in ms."""
    counts = list(hist.get("count", ()))
    if not counts:
        return ""
    lefts, rights = list(hist["left"]), list(hist["right"])
    top = max(counts) or 1.0
    bar = width / len(counts)
    rects = "".join(
        f'<rect x="{i * bar + 1:.1f}" y="{height - c / top * height:.1f}" '
        f'width="{max(bar - 2, 1):.1f}" height="{c / top * height:.1f}">'
        f"<title>{lefts[i]:.0f} to {rights[i]:.0f} ms: {c:.0f}</title></rect>"
        for i, c in enumerate(counts)
    )
    return (
        f'<figure class="ctas7-hist" data-metric="duration-histogram">'
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="test durations">{rects}</svg><figcaption><span>{lefts[0]:.0f} ms</span>'
        f"<span>test durations</span><span>{rights[-1]:.0f} ms</span></figcaption></figure>"
    )


# One dark theme for everything the dashboard draws (HTML panes, tables, payloads, charts).
# Panel renders each pane in its own shadow root, so every pane carries this stylesheet.
PALETTE = {
    "page": "#0f141a",
    "card": "#161d26",
    "line": "#273241",
    "text": "#d6dde6",
    "muted": "#8b98a8",
    "accent": "#58a6ff",
    "ok": "#3fb950",
    "bad": "#f85149",
    "warn": "#d29922",
}

CSS = """
:host { color: #d6dde6; font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans",
  sans-serif; }
.ctas7-status { display: flex; flex-wrap: wrap; gap: 6px 8px; align-items: center; }
.ctas7-chip { padding: 3px 10px; border-radius: 12px; font-size: 13px; max-width: 100%;
  background: #1f2935; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ctas7-chip.connected { color: #3fb950; } .ctas7-chip.disconnected { color: #f85149; }
.ctas7-chip small { color: #8b98a8; }
.ctas7-chip.schema { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-weight: 600;
  color: #d6dde6; }
.ctas7-chip.schema.error { color: #f85149; }
.ctas7-icon { vertical-align: -2px; color: #3fb950; }
.ctas7-chip.schema.error .ctas7-icon { color: #f85149; }
.ctas7-chip.schema.unknown .ctas7-icon { color: #8b98a8; }
.ctas7-note { font-size: 13px; padding: 3px 10px; border-radius: 12px; background: #1f2935; }
.ctas7-note.success { color: #3fb950; } .ctas7-note.error { color: #f85149; }
.ctas7-note.warning { color: #d29922; }
.ctas7-title { font-size: 13px; font-weight: 600; margin: 0 0 6px 0; text-transform: uppercase;
  letter-spacing: .06em; color: #8b98a8; }
.ctas7-caption { font-size: 12.5px; color: #8b98a8; margin: 2px 0 6px 0; }
.ctas7-events { font-size: 12.5px; max-height: 430px; overflow-y: auto; }
.ctas7-event { padding: 3px 4px; border-bottom: 1px solid #273241; cursor: pointer;
  overflow-wrap: anywhere; }
.ctas7-event:hover, .ctas7-event.selected { background: #1f2935; }
.ctas7-event small { color: #8b98a8; }
.ctas7-summary { color: #aab6c4; font-family: "DejaVu Sans Mono", ui-monospace, monospace; }
.ctas7-metrics { display: flex; gap: 8px 20px; flex-wrap: wrap; }
.ctas7-metric { min-width: 0; }
.ctas7-metric .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums;
  overflow-wrap: anywhere; }
.ctas7-metric .value.mono { font-family: "DejaVu Sans Mono", ui-monospace, monospace;
  font-size: 15px; padding-top: 6px; }
.ctas7-metric .label { font-size: 12px; color: #8b98a8; }
.ctas7-spark { display: block; width: 120px; height: 28px; margin-top: 2px; }
.ctas7-spark polyline, .ctas7-spark line { fill: none; stroke: #58a6ff; stroke-width: 1.6;
  vector-effect: non-scaling-stroke; }
.ctas7-table-box { max-height: 260px; overflow: auto; border: 1px solid #273241;
  border-radius: 6px; }
.ctas7-table { width: 100%; border-collapse: collapse; font-size: 12.5px; table-layout: auto; }
.ctas7-table th { position: sticky; top: 0; background: #1f2935; color: #aab6c4; text-align: left;
  font-weight: 600; padding: 5px 8px; white-space: nowrap; }
.ctas7-table td { padding: 4px 8px; border-top: 1px solid #273241; max-width: 28em;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ctas7-table .num { text-align: right; font-variant-numeric: tabular-nums; }
.ctas7-table tr.empty td { color: #8b98a8; font-style: italic; }
.ctas7-payload { border: 1px solid #273241; border-radius: 6px; background: #0f141a;
  padding: 4px 10px; }
.ctas7-json { margin: 0; max-height: 360px; overflow: auto; font-size: 12px; line-height: 1.45;
  color: #c9d1d9; white-space: pre-wrap; overflow-wrap: anywhere;
  font-family: "DejaVu Sans Mono", ui-monospace, monospace; }
.ctas7-json .k { color: #79c0ff; } .ctas7-json .s { color: #a5d6a7; }
.ctas7-json .n { color: #f2cc60; } .ctas7-json .l { color: #d2a8ff; }
.ctas7-diff { margin: 0; max-height: 160px; overflow: auto; font-size: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; font-family: "DejaVu Sans Mono", ui-monospace, monospace; }
.ctas7-hist { margin: 4px 0; }
.ctas7-hist svg { display: block; width: 100%; height: 90px; }
.ctas7-hist rect { fill: #58a6ff; opacity: .8; }
.ctas7-hist figcaption { display: flex; justify-content: space-between; font-size: 11.5px;
  color: #8b98a8; }
@media (max-width: 700px) {
  .ctas7-chip small { display: none; }
  .ctas7-events, .ctas7-table-box, .ctas7-json, .ctas7-diff { max-height: none; overflow: visible; }
  .ctas7-table { table-layout: fixed; font-size: 12px; }
  .ctas7-table th { white-space: normal; padding: 4px 5px; overflow-wrap: anywhere; }
  .ctas7-table td { padding: 4px 5px; max-width: none; }
  .ctas7-event:nth-child(n + 11) { display: none; }
}
"""
