"""``Digest``: everything the dashboard shows, folded from events. Pure, bounded, thread-safe.

The hub feeds it every sighting (``observe(topic, event, now)``) and a clock tick once a second
(``tick(now)``); browser sessions read it. Sections carry a revision number, so a session only
rebuilds a panel when its section changed, and follows the event, latency and KPI rings with its
own cursors. Memory is bounded by the constructor's limits however long it runs.

Which sighting feeds which panel:

- the **event stream** has one record per ``event_id``, created by its first sighting (raw or a
  target's); later sightings add the target it reached and that target's payload;
- **aggregates** (schema, test results, tasks, bridge metrics) are folded once per ``event_id``,
  from a raw payload: the ``events`` topic, or a target delivery that still carries its type's
  required fields (types without required fields pass through the bridge unchanged);
- **latency** per route is the arrival on ``target.<route>`` minus the event's timestamp;
- the dashboard target's ``schema_updated`` (the seed's "For Dioxus" payload) is the status bar's
  notification; the Neural Mux target's ``{topic, data}`` feeds the Neural Mux topic table.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ctas7_panel.dashboard.records import RAW_TOPIC, Record, raw_view, target_of
from ctas7_panel.dashboard.ring import SeqRing
from ctas7_panel.dashboard.tallies import (
    TASK_OK,
    BridgeHealth,
    ComponentStatus,
    Failure,
    LatencyPoint,
    LatencyTracker,
    RunRow,
    SchemaInfo,
    StatusTracker,
    TestTally,
    count_delivery,
    fold_bridge,
    fold_schema,
)
from ctas7_panel.events import Event

SECTIONS = ("events", "schema", "tests", "bridge", "mux", "status")
KPI_NAMES = (
    "events_per_s",
    "mux_msgs_per_min",
    "task_success_pct",
    "test_pass_pct",
    "routing_success_pct",
)
KPI_LABELS = {
    "events_per_s": "Events / s",
    "mux_msgs_per_min": "Mux messages / min",
    "task_success_pct": "Task success %",
    "test_pass_pct": "Test pass %",
    "routing_success_pct": "Routing success %",
}


@dataclass(frozen=True, slots=True)
class KpiSample:
    t: float
    values: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class MuxTopic:
    topic: str
    messages: int
    last_seen: float
    last_data: str


@dataclass(frozen=True, slots=True)
class TestsView:
    __test__ = False

    passed: int
    failed: int
    skipped: int
    running: int
    durations: tuple[float, ...]
    failures: tuple[Failure, ...]
    flaky: int = 0
    runs: tuple[RunRow, ...] = ()
    note: str = ""


class Digest:
    """See the module docstring. ``max_events`` bounds the stream, ``max_points`` each chart."""

    def __init__(
        self,
        *,
        max_events: int = 2000,
        max_points: int = 600,
        max_topics: int = 200,
        now: float = 0.0,
    ) -> None:
        self.lock = threading.RLock()
        self.max_events = max_events
        self.max_topics = max_topics
        self.events: SeqRing[Record] = SeqRing(max_events)
        self.latency_points: SeqRing[LatencyPoint] = SeqRing(max_points)
        self.kpi_points: SeqRing[KpiSample] = SeqRing(max_points)
        self._records: OrderedDict[str, Record] = OrderedDict()
        self._folded: OrderedDict[str, None] = OrderedDict()
        self.schema = SchemaInfo()
        self.tests = TestTally()
        self.bridge = BridgeHealth()
        self.status = StatusTracker()
        self.latency = LatencyTracker()
        self.mux_topics: OrderedDict[str, MuxTopic] = OrderedDict()
        self.revision: dict[str, int] = dict.fromkeys(SECTIONS, 0)
        self.types: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.seen = 0
        self._raw_times: deque[float] = deque()
        self._mux_times: deque[float] = deque()
        self._tasks: deque[bool] = deque(maxlen=200)
        self.started = now

    # --- feeding ------------------------------------------------------------------------------

    def observe(self, topic: str, event: Event, now: float, *, live: bool = True) -> Record:
        """One sighting of ``event`` on ``topic`` at ``now`` (``live=False`` for history)."""
        target = target_of(topic)
        raw = topic == RAW_TOPIC
        with self.lock:
            self.seen += 1
            record = self._records.get(event.event_id)
            if record is None:
                record = Record(event, now, raw)
                self._remember(record)
                self.events.append(record)
                self._count_name(self.types, event.event_type)
                self._count_name(self.sources, event.source_node)
            elif raw and not record.raw:
                record.event, record.raw = event, True  # keep the raw payload for the detail view
            self._bump("events")
            if target is not None and target not in record.targets:
                record.targets.append(target)
                record.delivered[target] = event.payload
                if live:
                    self.latency.observe(target, event, now)
                    self.bridge = count_delivery(self.bridge, now)
                    self._bump("bridge")
                if target == "neural_mux":
                    self._observe_mux(event, now, live)
                if target == "dashboard":
                    schema = fold_schema(self.schema, event, raw=False)
                    if schema is not self.schema:
                        self.schema = schema
                        self._bump("schema")
            if event.event_id not in self._folded:
                original = raw_view(target, event)
                if original is not None:
                    self._folded[event.event_id] = None
                    while len(self._folded) > self.max_events * 4:
                        self._folded.popitem(last=False)
                    if live:
                        self._raw_times.append(now)
                    self._fold(original, now)
            return record

    def _remember(self, record: Record) -> None:
        self._records[record.event_id] = record
        while len(self._records) > self.max_events:
            self._records.popitem(last=False)

    def _count_name(self, counts: dict[str, int], name: str) -> None:
        if name in counts or len(counts) < 500:  # bounded: the 500 first names
            counts[name] = counts.get(name, 0) + 1

    def _bump(self, section: str) -> None:
        self.revision[section] += 1

    def _fold(self, event: Event, now: float) -> None:
        t = event.event_type
        if t.startswith("schema_") or t == "legion_schema_telemetry":
            schema = fold_schema(self.schema, event, raw=True)
            if schema is not self.schema:
                self.schema = schema
                self._bump("schema")
        elif t.startswith("playwright_test_") or t == "test_run_status":
            if self.tests.observe(event):
                self._bump("tests")
        elif t == "task_executed":
            self._tasks.append(str(event.payload.get("status", "")).lower() in TASK_OK)
        elif t == "bridge_metrics":
            self.bridge = fold_bridge(self.bridge, event, now)
            self._bump("bridge")

    def _observe_mux(self, event: Event, now: float, live: bool) -> None:
        p = event.payload
        topic = str(p.get("topic") or f"{event.event_type}")
        old = self.mux_topics.pop(topic, None)
        data = p.get("data", p)
        shown = ""
        if isinstance(data, dict):
            shown = ", ".join(f"{k}={v}" for k, v in data.items())[:120]
        self.mux_topics[topic] = MuxTopic(topic, (old.messages if old else 0) + 1, now, shown)
        while len(self.mux_topics) > self.max_topics:
            self.mux_topics.popitem(last=False)
        if live:
            self._mux_times.append(now)
        self._bump("mux")

    def set_status(self, name: str, ok: bool, now: float, detail: str = "") -> None:
        with self.lock:
            if self.status.update(name, ok, now, detail):
                self._bump("status")

    def set_dead_letters(self, count: int, now: float) -> None:
        """The store's count of dead letters not yet replayed."""
        with self.lock:
            if count != self.bridge.dead_letters:
                self.bridge = replace(self.bridge, dead_letters=count, updated_at=now)
                self._bump("bridge")

    def set_schema(self, **changes: Any) -> None:
        """Fill in schema details learnt elsewhere (the hash cache, the snapshot file)."""
        with self.lock:
            updated = replace(self.schema, **changes)
            if updated != self.schema:
                self.schema = updated
                self._bump("schema")

    def tick(self, now: float) -> None:
        """Close the latency bucket and sample the KPIs (the hub calls this once a second)."""
        with self.lock:
            self.latency_points.append(self.latency.close(now))
            self.kpi_points.append(KpiSample(now, self.kpis(now)))

    # --- reading ------------------------------------------------------------------------------

    def kpis(self, now: float) -> dict[str, float | None]:
        with self.lock:
            _trim(self._raw_times, now - 10)
            _trim(self._mux_times, now - 60)
            window = min(10.0, max(now - self.started, 1.0))
            tasks = list(self._tasks)
            rate = self.tests.pass_rate
            routing = self.bridge.success_rate
            return {
                "events_per_s": len(self._raw_times) / window,
                "mux_msgs_per_min": float(len(self._mux_times)),
                "task_success_pct": 100 * sum(tasks) / len(tasks) if tasks else None,
                "test_pass_pct": 100 * rate if rate is not None else None,
                "routing_success_pct": 100 * routing if routing is not None else None,
            }

    def record(self, event_id: str) -> Record | None:
        with self.lock:
            return self._records.get(event_id)

    def tests_view(self) -> TestsView:
        with self.lock:
            t = self.tests
            return TestsView(
                t.passed,
                t.failed,
                t.skipped,
                t.running,
                tuple(t.durations),
                tuple(t.failures),
                t.flaky,
                t.rows(),
                t.note,
            )

    def status_view(self) -> tuple[ComponentStatus, ...]:
        with self.lock:
            return self.status.snapshot()

    def mux_view(self) -> tuple[MuxTopic, ...]:
        with self.lock:
            return tuple(reversed(self.mux_topics.values()))

    def names(self) -> tuple[list[str], list[str]]:
        """Event types and sources seen so far (sorted), for the filters."""
        with self.lock:
            return sorted(self.types), sorted(self.sources)


def _trim(times: deque[float], oldest: float) -> None:
    while times and times[0] < oldest:
        times.popleft()
