"""``SessionFeed``: moves what is new in the hub's ``Digest`` into one session's models.

``flush()`` runs every 100-200 ms per browser session (a periodic callback): it reads the event
ring from its cursor, re-reads only the sections whose revision changed, and sets the models'
parameters once per flush, so a burst of events becomes one Tabulator ``stream`` and one Bokeh
``stream`` per flush, never one per event. It holds cursors and revision numbers, nothing else:
a destroyed session leaves nothing behind in the hub.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from ctas7_panel.dashboard.digest import KPI_NAMES, Digest
from ctas7_panel.dashboard.models import STREAM_COLUMNS, DashboardState
from ctas7_panel.dashboard.records import TARGETS, Record

HIST_BINS = 20


def rows_frame(records: list[Record]) -> pd.DataFrame:
    """The table rows of ``records`` (oldest first, as streamed)."""
    return pd.DataFrame(
        {
            "ts": [r.event.timestamp for r in records],
            "time": [clock_ms(r.event.timestamp) for r in records],
            "event_type": [r.event.event_type for r in records],
            "source_node": [r.event.source_node for r in records],
            "summary": [r.summary for r in records],
            "event_id": [r.event_id for r in records],
        },
        columns=list(STREAM_COLUMNS),
    )


def clock_ms(ts: float) -> str:
    """``HH:MM:SS.mmm`` local time."""
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def histogram(durations: tuple[float, ...], bins: int = HIST_BINS) -> dict[str, list[float]]:
    if not durations:
        return {"left": [], "right": [], "count": []}
    counts, edges = np.histogram(np.asarray(durations, dtype=float), bins=bins)
    return {
        "left": edges[:-1].tolist(),
        "right": edges[1:].tolist(),
        "count": counts.astype(float).tolist(),
    }


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


class SessionFeed:
    """One session's reader of a ``Digest``. Not shared between sessions."""

    def __init__(self, digest: Digest, state: DashboardState) -> None:
        self.digest = digest
        self.state = state
        assert state.status and state.events and state.schema and state.tests
        assert state.mux and state.latency and state.bridge
        self.status, self.events, self.schema = state.status, state.events, state.schema
        self.tests, self.mux, self.latency = state.tests, state.mux, state.latency
        self.bridge = state.bridge
        self._cursor = 0
        self._latency_cursor = 0
        self._kpi_cursor = 0
        self._revs: dict[str, int] = {}
        self._filters = (tuple(self.events.types), tuple(self.events.sources))
        self.flushes = 0
        ev = self.events
        ev.param.watch(self._on_select, "selected_id")
        ev.param.watch(self._on_filter, ["types", "sources"])

    def _changed(self, section: str) -> bool:
        rev = self.digest.revision[section]
        if self._revs.get(section) == rev:
            return False
        self._revs[section] = rev
        return True

    def flush(self) -> None:
        """Apply everything new since the previous flush (cheap when nothing changed)."""
        self.flushes += 1
        self._flush_events()
        if self._changed("status") | self._changed("schema"):
            self._flush_status_schema()
        if self._changed("tests"):
            self._flush_tests()
        if self._changed("bridge"):
            self._flush_bridge()
        self._flush_charts()
        if self._changed("mux"):
            self._flush_mux_topics()

    # --- event stream -------------------------------------------------------------------------

    def _flush_events(self) -> None:
        ev = self.events
        batch = self.digest.events.since(self._cursor, limit=ev.max_rows)
        events_changed = self._changed("events")
        if not batch.items and not events_changed:
            return
        self._cursor = batch.cursor
        types, sources = self.digest.names()
        updates: dict[str, Any] = {"total": self.digest.seen}
        if types != ev.type_options:
            ev.param.types.objects = types
            updates["type_options"] = types
        if sources != ev.source_options:
            ev.param.sources.objects = sources
            updates["source_options"] = sources
        if batch.missed:
            updates["missed"] = ev.missed + batch.missed
        updates["latest"] = self._latest()
        if batch.items:
            updates["batch"] = rows_frame(batch.items)
        ev.param.update(**updates)

    def _latest(self) -> list[Record]:
        ev = self.events
        types, sources = set(ev.types), set(ev.sources)

        def keep(r: Record) -> bool:
            return (not types or r.event.event_type in types) and (
                not sources or r.event.source_node in sources
            )

        return self.digest.events.latest(ev.list_size, keep)

    def _on_filter(self, *_: object) -> None:
        self.events.latest = self._latest()

    def _on_select(self, event: Any) -> None:
        record = self.digest.record(event.new) if event.new else None
        if record is not None:
            self.events.detail = record.detail()
        elif event.new:
            self.events.detail = {
                "event_id": event.new,
                "note": "no longer held in memory: read it with `ctas7 events` or load_events()",
            }
        else:
            self.events.detail = {}

    # --- status bar and schema ----------------------------------------------------------------

    def _flush_status_schema(self) -> None:
        s = self.digest.schema
        self.status.param.update(
            components=list(self.digest.status_view()),
            schema_hash=s.hash or "",
            schema_status=s.status,
            notification=s.notification or "",
            notification_type=s.notification_type or "info",
        )
        tables = pd.DataFrame(list(s.tables), columns=["table", "columns"])
        self.schema.param.update(
            hash=s.hash or "",
            old_hash=s.old_hash or "",
            table_count=s.table_count,
            updated_at=s.updated_at,
            checked_at=s.checked_at,
            status=s.status,
            diff_text=s.diff_text,
            error=s.error or "",
            tables=tables,
        )

    # --- tests, bridge, mux -------------------------------------------------------------------

    def _flush_tests(self) -> None:
        t = self.digest.tests_view()
        failures = pd.DataFrame(
            [
                {
                    "time": clock_ms(f.timestamp),
                    "test": f.nodeid,
                    "message": f.message,
                }
                for f in reversed(t.failures)
            ],
            columns=["time", "test", "message"],
        )
        self.tests.param.update(
            passed=t.passed,
            failed=t.failed,
            skipped=t.skipped,
            running=t.running,
            histogram=histogram(t.durations),
            failures=failures,
        )

    def _flush_bridge(self) -> None:
        b = self.digest.bridge
        per_target = pd.DataFrame(
            [{"target": name, **row} for name, row in sorted(b.per_target().items())],
            columns=["target", "delivered", "dead_lettered", "p50_ms", "p99_ms"],
        )
        self.bridge.param.update(
            success_rate=b.success_rate,
            delivered=b.delivered,
            dead_lettered=b.dead_lettered,
            dead_letters=b.dead_letters,
            source=b.source,
            per_target=per_target,
        )

    def _flush_mux_topics(self) -> None:
        topics = pd.DataFrame(
            [
                {
                    "topic": t.topic,
                    "messages": t.messages,
                    "last_seen": clock_ms(t.last_seen),
                    "data": t.last_data,
                }
                for t in self.digest.mux_view()
            ],
            columns=["topic", "messages", "last_seen", "data"],
        )
        self.mux.topics = topics

    def _flush_charts(self) -> None:
        lat = self.digest.latency_points.since(self._latency_cursor)
        if lat.items:
            self._latency_cursor = lat.cursor
            cols: dict[str, list[Any]] = {
                "t": [pd.Timestamp(p.t, unit="s", tz="UTC").tz_localize(None) for p in lat.items]
            }
            for route in TARGETS:
                cols[f"{route}_p50"] = [_nan(p.routes.get(route, (None,))[0]) for p in lat.items]
                cols[f"{route}_p99"] = [
                    _nan(p.routes[route][1]) if route in p.routes else math.nan for p in lat.items
                ]
            self.latency.batch = cols
        kpi = self.digest.kpi_points.since(self._kpi_cursor)
        if kpi.items:
            self._kpi_cursor = kpi.cursor
            last = kpi.items[-1].values
            self.mux.param.update(
                kpis={name: last.get(name) for name in KPI_NAMES},
                kpi_batch=list(kpi.items),
            )
