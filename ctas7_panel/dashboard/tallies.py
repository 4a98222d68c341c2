"""Pure accumulators behind each panel: schema, test results, latency, KPIs, bridge, status.

Each is fed events (or probe results) with an explicit ``now`` and keeps bounded state, so they
are unit-tested without a clock, a bus or a browser. ``Digest`` (digest.py) composes them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ctas7_panel.events import Event
from ctas7_panel.stats import quantiles

PASSED = {"passed", "pass", "ok", "success"}
FAILED = {"failed", "fail", "error", "errored", "broken"}
SKIPPED = {"skipped", "skip", "xfailed", "deselected"}
TASK_OK = {"success", "succeeded", "ok", "completed", "done", "passed"}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# --- schema ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """What the schema panel and the status bar's indicator show."""

    hash: str | None = None
    old_hash: str | None = None
    table_count: int | None = None
    updated_at: float | None = None  # time of the last schema_updated
    checked_at: float | None = None  # time of the last schema_updated/nochange
    status: str = "unknown"  # updated, unchanged, error, unknown
    schema_path: str | None = None
    diff_text: str = ""
    impact_text: str = ""  # the impact summary of the last schema_updated, as text
    tables: tuple[tuple[str, int], ...] = ()  # (table, column count)
    tables_hash: str | None = None  # the schema ``tables`` describe (None: unknown)
    error: str | None = None
    notification: str | None = None  # the dashboard target's message
    notification_type: str | None = None


def tables_from(payload: Any) -> tuple[tuple[str, int], ...] | None:
    """(table, column count) pairs from an event payload's ``tables``/``views``; None if none.

    A producer may send ``{"tables": [{"name", "schema"?, "columns": [...] | "column_count"}]}``
    or ``{"tables": {name: {"columns": ...}}}``; views count as tables. The snapshot file is not
    read here: the hub reads it with ``schema.snapshot_file`` (``snapshot_tables``).
    """
    if not isinstance(payload, Mapping):
        return None
    found: list[tuple[str, int]] = []
    for key in ("tables", "views"):
        value = payload.get(key)
        items: Iterable[tuple[str, Any]]
        if isinstance(value, Mapping):
            items = ((str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            items = (
                (_table_name(v), v) for v in value if isinstance(v, Mapping) and _table_name(v)
            )
        else:
            continue
        for name, spec in items:
            found.append((name, _column_count(spec)))
    return tuple(sorted(found)) if found else None


def _table_name(spec: Mapping[str, Any]) -> str:
    name = spec.get("name") or spec.get("table") or ""
    schema = spec.get("schema")
    return f"{schema}.{name}" if schema and schema != "public" and name else str(name)


def _column_count(spec: Any) -> int:
    if isinstance(spec, Mapping):
        if isinstance(spec.get("column_count"), int):
            return int(spec["column_count"])
        cols = spec.get("columns")
        if isinstance(cols, list | Mapping):
            return len(cols)
    if isinstance(spec, list):
        return len(spec)
    return 0


def diff_text(value: Any) -> str:
    """A readable text of a diff given as text, ``{"text": ...}`` or a structured dict."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("text", "summary"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
        lines = []
        for key, items in value.items():
            if isinstance(items, list) and items:
                names = (i.get("name", i) if isinstance(i, Mapping) else i for i in items)
                shown = ", ".join(str(n) for n in names)
                lines.append(f"{key}: {shown}")
        return "\n".join(lines)
    return str(value)


def impact_text(value: Any) -> str:
    """The ``impact`` of a ``schema_updated`` as a few lines ("" when there is none)."""
    if not isinstance(value, Mapping):
        return ""
    from ctas7_panel.graph.impact import summary_text

    try:
        return summary_text(value)
    except (TypeError, ValueError, AttributeError):
        return "impact: (unreadable summary)"


def fold_schema(info: SchemaInfo, event: Event, *, raw: bool) -> SchemaInfo:
    """The schema state after one event (unchanged when the event says nothing about it)."""
    p = event.payload
    t = event.event_type
    if t in {"schema_updated", "schema_nochange"} and raw:
        count = p.get("table_count")
        tables = tables_from(p)
        changes: dict[str, Any] = {
            "hash": str(p.get("new_hash") or info.hash or "") or None,
            "old_hash": p.get("old_hash"),
            "table_count": int(count) if isinstance(count, int) else info.table_count,
            "checked_at": event.timestamp,
            "status": "updated" if t == "schema_updated" else "unchanged",
            "schema_path": p.get("schema_path", info.schema_path),
            "error": None,
        }
        if t == "schema_updated":
            changes["updated_at"] = event.timestamp
            changes["diff_text"] = diff_text(p.get("diff")) or (
                f"{_short(p.get('old_hash'))} -> {_short(p.get('new_hash'))}"
            )
            changes["impact_text"] = impact_text(p.get("impact"))
        if tables is not None:
            changes["tables"] = tables
            changes["tables_hash"] = changes["hash"]
        return replace(info, **changes)
    if t == "schema_updated" and "ui_action" in p:
        return replace(
            info,
            notification=str(p.get("message") or ""),
            notification_type=str(p.get("notification_type") or "info"),
        )
    if t == "schema_error" and raw:
        return replace(info, status="error", error=f"{p.get('stage')}: {p.get('error')}")
    if t == "legion_schema_telemetry" and raw and p.get("new_hash") and not info.hash:
        return replace(info, hash=str(p["new_hash"]))
    return info


def _short(value: Any) -> str:
    return str(value)[:8] if value else "none"


# --- test results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    nodeid: str
    message: str
    timestamp: float
    duration_ms: float | None


@dataclass(slots=True)
class ProjectCounts:
    """One project's (device's) tests in one run: each test counted once, at its final attempt."""

    passed: int = 0
    flaky: int = 0  # passed on a retry after failing
    failed: int = 0
    skipped: int = 0
    running: int = 0


@dataclass(slots=True)
class RunTally:
    """One test run (``run_id``): its projects and what its runner last said about it."""

    run_id: str
    first_seen: float
    status: str = ""  # from test_run_status; "" when the runner sends none (pytest, ingest)
    message: str = ""
    status_at: float = float("-inf")  # the time of the test_run_status that set ``status``
    projects: dict[str, ProjectCounts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunRow:
    """A row of the Test Results table: one project of one run."""

    run_id: str
    project: str
    passed: int
    flaky: int
    failed: int
    skipped: int
    running: int
    status: str


def is_final(payload: Mapping[str, Any]) -> bool:
    """A completed attempt is the test's last word unless it says ``final: false``."""
    return payload.get("final", True) is not False


@dataclass(slots=True)
class TestTally:
    """Counts by outcome (flaky apart), the last ``max_durations`` durations, ``max_failures``
    failures, and the ``max_runs`` latest runs per project (``run_id`` x ``project``)."""

    __test__ = False  # not a pytest class

    max_durations: int = 1000
    max_failures: int = 20
    max_runs: int = 10
    max_projects: int = 50
    passed: int = 0
    flaky: int = 0
    failed: int = 0
    skipped: int = 0
    running: int = 0
    durations: deque[float] = field(default_factory=deque)
    failures: deque[Failure] = field(default_factory=deque)
    runs: dict[str, RunTally] = field(default_factory=dict)  # oldest first
    note: str = ""  # the latest test_run_status (by its time): "status: message"
    note_at: float = float("-inf")

    def _run(self, event: Event) -> RunTally:
        p = event.payload
        key = str(p.get("run_id") or p.get("session_id") or event.source_node)[:80]
        run = self.runs.pop(key, None) or RunTally(key, event.timestamp)
        self.runs[key] = run  # most recently active last
        while len(self.runs) > self.max_runs:
            del self.runs[next(iter(self.runs))]
        return run

    def _project(self, run: RunTally, payload: Mapping[str, Any]) -> ProjectCounts:
        name = str(payload.get("project") or payload.get("browser") or "-")[:80]
        counts = run.projects.get(name)
        if counts is None:
            if len(run.projects) >= self.max_projects:
                name = "(others)"
            counts = run.projects.setdefault(name, ProjectCounts())
        return counts

    def observe(self, event: Event) -> bool:
        """Fold a raw ``playwright_test_*`` or ``test_run_status`` event; True when something
        changed. A completed attempt with ``final: false`` (retried) only ends its attempt."""
        p = event.payload
        if event.event_type == "test_run_status":
            # the latest word by the event's own time: events may arrive out of order (retried
            # deliveries, a history replayed into a new session), and an early 'running' must
            # not overwrite the run's final status
            status, message = str(p.get("status", "")), str(p.get("message", ""))
            if event.timestamp >= self.note_at:
                self.note = (f"{status}: {message}" if status and message else status or message)[
                    :300
                ]
                self.note_at = event.timestamp
            run = self._run(event)
            if event.timestamp >= run.status_at:
                run.status, run.message = status[:40], message[:300]
                run.status_at = event.timestamp
            return True
        if event.event_type == "playwright_test_started":
            self.running += 1
            self._project(self._run(event), p).running += 1
            return True
        if event.event_type != "playwright_test_completed":
            return False
        self.running = max(0, self.running - 1)
        project = self._project(self._run(event), p)
        project.running = max(0, project.running - 1)
        if not is_final(p):
            return True
        outcome = str(p.get("outcome", "")).lower()
        duration = _num(p.get("duration_ms"))
        if outcome in PASSED and p.get("flaky") is True:
            self.flaky += 1
            project.flaky += 1
        elif outcome in PASSED:
            self.passed += 1
            project.passed += 1
        elif outcome in SKIPPED:
            self.skipped += 1
            project.skipped += 1
        else:
            self.failed += 1
            project.failed += 1
            message = p.get("message") or p.get("error") or p.get("longrepr") or outcome
            self.failures.append(
                Failure(str(p.get("nodeid", "?")), str(message)[:300], event.timestamp, duration)
            )
            while len(self.failures) > self.max_failures:
                self.failures.popleft()
        if duration is not None and outcome not in SKIPPED:
            self.durations.append(duration)
            while len(self.durations) > self.max_durations:
                self.durations.popleft()
        return True

    @property
    def pass_rate(self) -> float | None:
        """Passed (flaky included: they passed in the end) over passed and failed."""
        done = self.passed + self.flaky + self.failed
        return (self.passed + self.flaky) / done if done else None

    def rows(self) -> tuple[RunRow, ...]:
        """One row per project of each run, the most recently active run first."""
        out = []
        for run in reversed(self.runs.values()):
            busy = any(c.running for c in run.projects.values())
            status = run.status or ("running" if busy else "done")
            for name, c in sorted(run.projects.items()):
                out.append(
                    RunRow(
                        run.run_id,
                        name,
                        c.passed,
                        c.flaky,
                        c.failed,
                        c.skipped,
                        c.running,
                        status,
                    )
                )
        return tuple(out)


# --- latency per route -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    """One tick of the latency chart: per route, (p50 ms, p99 ms, samples) or absent."""

    t: float
    routes: Mapping[str, tuple[float, float, int]]


class LatencyTracker:
    """Delivery latency (target arrival - event timestamp) per route, closed into points per tick.

    Samples older than ``stale_s`` (replays, history) are not latency and are ignored; at most
    ``max_samples`` wait per route between ticks (the newest are kept).
    """

    def __init__(self, *, stale_s: float = 60.0, max_samples: int = 10_000) -> None:
        self.stale_s = stale_s
        self.max_samples = max_samples
        self._pending: dict[str, deque[float]] = {}

    def observe(self, route: str, event: Event, now: float) -> None:
        ms = (now - event.timestamp) * 1000.0
        if ms > self.stale_s * 1000:
            return
        bucket = self._pending.get(route)
        if bucket is None:
            bucket = self._pending[route] = deque(maxlen=self.max_samples)
        bucket.append(max(ms, 0.0))

    def close(self, now: float) -> LatencyPoint:
        routes = {}
        for route, vals in self._pending.items():
            if vals:
                qs = quantiles(vals, (0.5, 0.99))
                routes[route] = (qs[0.5], qs[0.99], len(vals))
        for vals in self._pending.values():
            vals.clear()
        return LatencyPoint(now, routes)


# --- bridge health -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BridgeHealth:
    """Routing success and dead letters.

    From the ``bridge_metrics`` events each bridge worker publishes (the latest per ``worker``,
    summed) when there are any; until then from what the hub sees (deliveries on target
    topics). ``dead_letters`` is the store's count of unreplayed letters.
    """

    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    dead_letters: int = 0
    success_rate: float | None = None
    source: str = "observed"  # observed | bridge_metrics
    updated_at: float | None = None
    workers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def per_target(self) -> dict[str, dict[str, Any]]:
        """Per target over all workers: delivered, dead_lettered, worst p50/p99 (ms)."""
        out: dict[str, dict[str, Any]] = {}
        for payload in self.workers.values():
            targets = payload.get("targets")
            if not isinstance(targets, Mapping):
                continue
            for name, t in targets.items():
                if not isinstance(t, Mapping):
                    continue
                row = out.setdefault(
                    str(name), {"delivered": 0, "dead_lettered": 0, "p50_ms": None, "p99_ms": None}
                )
                row["delivered"] += _int(t.get("delivered"), 0)
                row["dead_lettered"] += _int(t.get("dead_lettered"), 0)
                for key in ("p50_ms", "p99_ms"):
                    v = _num(t.get(key))
                    if v is not None and (row[key] is None or v > row[key]):
                        row[key] = v
        return out


def fold_bridge(health: BridgeHealth, event: Event, now: float) -> BridgeHealth:
    """Health after a raw ``bridge_metrics`` event."""
    p = event.payload
    if event.event_type == "bridge_metrics":
        workers = dict(health.workers) if health.source == "bridge_metrics" else {}
        workers[str(p.get("worker") or event.source_node)] = p
        delivered = sum(_int(w.get("delivered"), 0) for w in workers.values())
        dead = sum(_int(w.get("dead_lettered"), 0) for w in workers.values())
        settled = delivered + dead
        return replace(
            health,
            delivered=delivered,
            failed=dead,
            dead_lettered=dead,
            success_rate=delivered / settled if settled else None,
            source="bridge_metrics",
            updated_at=now,
            workers=workers,
        )
    return health


def count_delivery(health: BridgeHealth, now: float) -> BridgeHealth:
    """One delivery seen on a target topic (only counted until the bridge reports itself)."""
    if health.source != "observed":
        return health
    delivered = health.delivered + 1
    return replace(
        health,
        delivered=delivered,
        success_rate=delivered / (delivered + health.failed),
        updated_at=now,
    )


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


# --- component status --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """Connected or not, since when, and what the last check said."""

    name: str
    ok: bool
    since: float
    detail: str = ""
    checked_at: float = 0.0


class StatusTracker:
    """Keeps ``since`` across checks: it changes only when ``ok`` flips."""

    def __init__(self) -> None:
        self.components: dict[str, ComponentStatus] = {}

    def update(self, name: str, ok: bool, now: float, detail: str = "") -> bool:
        """Record a check; True when the shown state changed (flip or new detail)."""
        old = self.components.get(name)
        since = old.since if old is not None and old.ok == ok else now
        self.components[name] = ComponentStatus(name, ok, since, detail, now)
        return old is None or old.ok != ok or old.detail != detail

    def snapshot(self) -> tuple[ComponentStatus, ...]:
        return tuple(self.components.values())
