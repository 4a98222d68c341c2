"""The HTML each panel shows, with the seed's Playwright-discoverable attributes. Pure.

Every panel's root carries ``data-component`` (and ``data-route``, the ``mcp://telemetry/...``
address of what it shows); values users' tests assert on carry ``data-metric``; events carry
``data-component="telemetry-event" data-event-type=... data-event-id=...`` as in the seed.
Everything interpolated is escaped: event ids, types and payload text come from the outside.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from html import escape

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
    mark = {"error": "❌", "unknown": "…"}.get(schema_status, "✅")
    short = schema_hash[:8] if schema_hash else "unknown"
    indicator = (
        f'<span class="ctas7-chip schema" data-component="schema-indicator" '
        f'data-action="show-schema-details" data-schema-hash="{_a(schema_hash)}" '
        f'data-schema-status="{_a(schema_status)}">Schema: {escape(short)} {mark}</span>'
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


CSS = """
.ctas7-status { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.ctas7-chip { padding: 3px 10px; border-radius: 12px; font-size: 13px;
  background: rgba(127,127,127,.15); white-space: nowrap; }
.ctas7-chip.connected { color: #2fb344; } .ctas7-chip.disconnected { color: #d63939; }
.ctas7-chip.schema { font-family: monospace; font-weight: 600; }
.ctas7-note { margin-left: auto; font-size: 13px; }
.ctas7-title { font-size: 15px; margin: 0 0 6px 0; text-transform: uppercase;
  letter-spacing: .05em; opacity: .8; }
.ctas7-events { font-size: 12.5px; max-height: 420px; overflow-y: auto; }
.ctas7-event { padding: 2px 4px; border-bottom: 1px solid rgba(127,127,127,.2); }
.ctas7-summary { opacity: .75; font-family: monospace; }
.ctas7-metrics { display: flex; gap: 18px; flex-wrap: wrap; }
.ctas7-metric .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.ctas7-metric .label { font-size: 12px; opacity: .7; }
"""
