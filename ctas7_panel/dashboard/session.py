"""``SessionFeed``: moves what is new in the hub's ``Digest`` into one session's models.

``flush()`` runs every ~100 ms per browser session (a periodic callback). Its work is
proportional to what changed since the previous flush:

- **every flush**: the event ring from this session's cursor (a new session starts at the
  newest ``max_rows``). New rows that pass the filters become, every ``table_s``, one batch
  of table rows (small dicts, added in the browser) and one list of small dicts the live list
  prepends in the browser; nothing is sent when nothing arrived. The status bar and schema
  details, when their section's revision moved (rare, and the schema indicator must be quick);
- **at most once per ``slow_s`` (1 s)**: everything that changes with every event but that
  nobody reads at 10 Hz — the counters, test results, bridge health, Neural Mux topics, KPIs
  and trends, latency charts, and a refresh of the live list (routes reached since a row was
  first shown). Each is rebuilt only when its revision moved, and sent only when what it shows
  changed (compared as plain tuples).

It holds cursors, revision numbers and what it last sent, nothing else: a destroyed session
leaves nothing behind in the hub.

A session never stops because of one event: each section is updated on its own, and a section
that fails (an event that did not come through the edge may carry any value, e.g. an integer
where the schema panel shows a hash) is skipped for that flush, counted in ``errors`` and
logged once per distinct error; the other sections, and the next flush, go on.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from ctas7_panel.dashboard.digest import KPI_NAMES, Digest
from ctas7_panel.dashboard.markup import clock_ms, event_row, table_row
from ctas7_panel.dashboard.models import DashboardState
from ctas7_panel.dashboard.records import Record, targets

log = logging.getLogger(__name__)

HIST_BINS = 20
SLOW_S = 1.0
TABLE_S = 0.5
TREND_POINTS = 120


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


def _signature(records: list[Record]) -> list[tuple[str, int]]:
    """What the live list shows of ``records``: ids and how many targets each reached."""
    return [(r.event_id, len(r.targets)) for r in records]


class SessionFeed:
    """One session's reader of a ``Digest``. Not shared between sessions."""

    def __init__(
        self,
        digest: Digest,
        state: DashboardState,
        *,
        slow_s: float = SLOW_S,
        table_s: float = TABLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.digest = digest
        self.state = state
        assert state.status and state.events and state.schema and state.tests
        assert state.mux and state.latency and state.bridge
        self.status, self.events, self.schema = state.status, state.events, state.schema
        self.tests, self.mux, self.latency = state.tests, state.mux, state.latency
        self.bridge = state.bridge
        self.slow_s = slow_s
        self.table_s = table_s
        self._table_at = -math.inf
        self._table_rows: list[Record] = []  # new since the last table stream (bounded)
        self.clock = clock
        self._cursor: int | None = None  # None: the first read starts at the newest rows
        self._latency_cursor = 0
        self._kpi_cursor = 0
        self._revs: dict[str, int] = {}
        self._sent: dict[str, Hashable] = {}
        self._shown: list[tuple[str, int]] = []  # what the live list shows now
        self._slow_at = -math.inf
        self._trends: dict[str, deque[float]] = {
            name: deque(maxlen=TREND_POINTS) for name in KPI_NAMES
        }
        self.flushes = 0
        self.errors = 0  # section updates skipped (see the module docstring)
        self._logged: set[str] = set()
        ev = self.events
        ev.param.watch(self._on_select, "selected_id")
        ev.param.watch(self._on_filter, ["types", "sources"])

    def _changed(self, section: str) -> bool:
        rev = self.digest.revision[section]
        if self._revs.get(section) == rev:
            return False
        self._revs[section] = rev
        return True

    def _differs(self, key: str, value: Hashable) -> bool:
        """True (and remembered) when ``value`` is not what was last sent under ``key``."""
        if self._sent.get(key) == value:
            return False
        self._sent[key] = value
        return True

    def flush(self) -> None:
        """Apply what is new since the previous flush (cheap when nothing changed)."""
        self.flush_updates()
        self.flush_table()

    def flush_updates(self) -> None:
        """Everything but the table (a Panel session sends this as one message)."""
        self.flushes += 1
        now = self.clock()
        self._guard(self._flush_events)
        if self._changed("status") | self._changed("schema"):
            self._guard(self._flush_status_schema)
        if now - self._slow_at >= self.slow_s:
            self._slow_at = now
            self.flush_slow()

    def _guard(self, section: Callable[[], None]) -> None:
        """Run one section's update; a failure is contained (see the module docstring)."""
        try:
            section()
        except Exception as exc:
            self.errors += 1
            text = f"{type(exc).__name__}: {exc}"[:300]
            if text not in self._logged:
                if len(self._logged) < 100:
                    self._logged.add(text)
                log.warning("dashboard session: %s skipped: %s", section.__name__, text)

    def flush_table(self) -> None:
        """The table's new rows, as one batch, at most once per ``table_s``.

        The browser re-sorts the table on every batch, so under sustained traffic rows are sent
        in batches every ``table_s``; after a quiet spell a new row is sent at once. A Panel
        session sends this as its own message, after the live list's, so the browser updates
        the list first.
        """
        now = self.clock()
        if self._table_rows and now - self._table_at >= self.table_s:
            self._table_at = now
            rows, self._table_rows = self._table_rows, []
            self._guard(lambda: setattr(self.events, "table_batch", [table_row(r) for r in rows]))

    def flush_slow(self) -> None:
        """The sections refreshed at most once per ``slow_s``."""
        self._guard(self._flush_counters_and_list)
        if self._changed("tests"):
            self._guard(self._flush_tests)
        if self._changed("bridge"):
            self._guard(self._flush_bridge)
        self._guard(self._flush_charts)
        if self._changed("mux"):
            self._guard(self._flush_mux_topics)

    # --- event stream -------------------------------------------------------------------------

    def _flush_events(self) -> None:
        ev = self.events
        if self._cursor is None:  # a new page starts at the newest rows: nothing was missed
            self._cursor = max(0, self.digest.events.last_seq - ev.max_rows)
        batch = self.digest.events.since(self._cursor or 0, limit=ev.max_rows)
        if not batch.items:
            return
        self._cursor = batch.cursor
        kept = [r for r in batch.items if self._keep(r)]
        self._table_rows = (self._table_rows + kept)[-ev.max_rows :]
        updates: dict[str, Any] = {}
        types, sources = self.digest.names()
        if types != ev.type_options:
            ev.param.types.objects = list(types)
            updates["type_options"] = types
        if sources != ev.source_options:
            ev.param.sources.objects = list(sources)
            updates["source_options"] = sources
        if batch.missed:
            updates["missed"] = ev.missed + batch.missed
        new = kept[-ev.list_size :]
        if batch.missed or len(new) >= ev.list_size:
            latest = self._latest()
            updates["latest"] = latest
            self._shown = _signature(latest)
        elif new:
            updates["appended"] = [event_row(r) for r in new]
            self._shown = (_signature(new[::-1]) + self._shown)[: ev.list_size]
        ev.param.update(**updates)

    def _keep(self, r: Record) -> bool:
        ev = self.events
        return (not ev.types or r.event.event_type in ev.types) and (
            not ev.sources or r.event.source_node in ev.sources
        )

    def _latest(self) -> list[Record]:
        return self.digest.events.latest(self.events.list_size, self._keep)

    def _flush_counters_and_list(self) -> None:
        """Counters, and the live list again when the rows it shows changed (routes reached)."""
        if self._changed("events"):
            self.events.total = self.digest.events.last_seq
        latest = self._latest()
        shown = _signature(latest)
        if shown != self._shown:
            self._shown = shown
            self.events.latest = latest

    def _on_filter(self, *_: object) -> None:
        """A filter changed: the list and the table start again from the newest matching rows."""
        ev = self.events
        latest = self._latest()
        self._shown = _signature(latest)
        self._table_rows = []
        ev.param.update(
            latest=latest,
            table_rows=[table_row(r) for r in self.digest.events.latest(ev.max_rows, self._keep)],
        )

    def _on_select(self, event: Any) -> None:
        self._guard(lambda: self._select(event.new))

    def _select(self, event_id: str) -> None:
        record = self.digest.record(event_id) if event_id else None
        if record is not None:
            self.events.detail = record.detail()
        elif event_id:
            self.events.detail = {
                "event_id": event_id,
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
        updates: dict[str, Any] = {
            "hash": s.hash or "",
            "old_hash": s.old_hash or "",
            "table_count": s.table_count,
            "updated_at": s.updated_at,
            "checked_at": s.checked_at,
            "status": s.status,
            "diff_text": s.diff_text,
            "impact_text": s.impact_text,
            "error": s.error or "",
        }
        if self._differs("tables", s.tables):
            updates["tables"] = [tuple(t) for t in s.tables]
        self.schema.param.update(**updates)

    # --- tests, bridge, mux -------------------------------------------------------------------

    def _flush_tests(self) -> None:
        t = self.digest.tests_view()
        updates: dict[str, Any] = {
            "passed": t.passed,
            "failed": t.failed,
            "skipped": t.skipped,
            "running": t.running,
            "flaky": t.flaky,
            "note": t.note,
            "histogram": histogram(t.durations),
        }
        if self._differs("runs", t.runs):
            updates["runs"] = [dataclasses.astuple(r) for r in t.runs]
        if self._differs("failures", t.failures):
            updates["failures"] = [
                (clock_ms(f.timestamp), f.nodeid, f.message) for f in reversed(t.failures)
            ]
        self.tests.param.update(**updates)

    def _flush_bridge(self) -> None:
        b = self.digest.bridge
        updates: dict[str, Any] = {
            "success_rate": b.success_rate,
            "delivered": b.delivered,
            "dead_lettered": b.dead_lettered,
            "dead_letters": b.dead_letters,
            "source": b.source,
        }
        columns = ("delivered", "dead_lettered", "p50_ms", "p99_ms")
        rows = tuple(
            (name, *(row[c] for c in columns)) for name, row in sorted(b.per_target().items())
        )
        if self._differs("per_target", rows):
            updates["per_target"] = list(rows)
        self.bridge.param.update(**updates)

    def _flush_mux_topics(self) -> None:
        rows = tuple(
            (t.topic, t.messages, clock_ms(t.last_seen), t.last_data)
            for t in self.digest.mux_view()
        )
        if self._differs("mux_topics", rows):
            self.mux.topics = list(rows)

    def _flush_charts(self) -> None:
        lat = self.digest.latency_points.since(self._latency_cursor)
        if lat.items:
            self._latency_cursor = lat.cursor
            cols: dict[str, list[Any]] = {
                "t": [p.t * 1000.0 for p in lat.items]  # ms since the epoch (Bokeh datetime)
            }
            for route in targets():
                cols[f"{route}_p50"] = [_nan(p.routes.get(route, (None,))[0]) for p in lat.items]
                cols[f"{route}_p99"] = [
                    _nan(p.routes[route][1]) if route in p.routes else math.nan for p in lat.items
                ]
            self.latency.batch = cols
        kpi = self.digest.kpi_points.since(self._kpi_cursor)
        if kpi.items:
            self._kpi_cursor = kpi.cursor
            for sample in kpi.items:
                for name, trend in self._trends.items():
                    v = sample.values.get(name)
                    if v is not None and math.isfinite(v):
                        trend.append(float(v))
            last = kpi.items[-1].values
            self.mux.param.update(
                kpis={name: last.get(name) for name in KPI_NAMES},
                trends={name: list(trend) for name, trend in self._trends.items()},
            )
