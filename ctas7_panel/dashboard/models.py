"""Per-session state of each panel, as ``param`` models (no Panel widgets, no I/O).

One ``DashboardState`` per browser session holds one model per panel; ``SessionFeed``
(session.py) fills them from the process's hub, views (views/*.py) render them. A model's
``batch``-style parameters (and the event stream's ``appended``) carry only what is new since
the previous flush, so a view can ``stream`` or prepend it instead of re-sending everything.
"""

from __future__ import annotations

import param


class StatusModel(param.Parameterized):
    components = param.List(default=[], doc="ComponentStatus of the bus, database and endpoints")
    schema_hash = param.String(default="", doc="current schema fingerprint ('' when unknown)")
    schema_status = param.String(default="unknown", doc="updated, unchanged, cached, error")
    notification = param.String(default="", doc="the dashboard target's last message")
    notification_type = param.String(default="info", doc="success, warning, error or info")


class EventStreamModel(param.Parameterized):
    table_rows = param.List(default=[], doc="the table in full, newest first (a reset)")
    table_batch = param.List(default=[], doc="table rows new since the last stream, oldest first")
    latest = param.List(default=[], doc="the live list in full, newest first")
    appended = param.List(default=[], doc="live-list rows new since the last flush")
    type_options = param.List(default=[], doc="event types seen so far")
    source_options = param.List(default=[], doc="source nodes seen so far")
    types = param.ListSelector(default=[], objects=[], doc="types to show (none = all)")
    sources = param.ListSelector(default=[], objects=[], doc="sources to show (none = all)")
    selected_id = param.String(default="", doc="event_id whose payload is shown")
    detail = param.Dict(default={}, doc="the selected event: envelope and delivered payloads")
    total = param.Integer(default=0, doc="distinct events the hub received since it started")
    missed = param.Integer(
        default=0, doc="events that arrived faster than this session could list them"
    )
    max_rows = param.Integer(
        default=200, bounds=(10, None), doc="rows kept in the table (the browser redraws them all)"
    )
    list_size = param.Integer(default=25, bounds=(1, 200), doc="events in the live list")


class SchemaModel(param.Parameterized):
    hash = param.String(default="", doc="current fingerprint")
    old_hash = param.String(default="", doc="previous fingerprint")
    table_count = param.Integer(default=None, allow_None=True, doc="tables in the schema")
    updated_at = param.Number(default=None, allow_None=True, doc="unix time of last change")
    checked_at = param.Number(default=None, allow_None=True, doc="unix time of last check")
    status = param.String(default="unknown", doc="updated, unchanged, cached, error, unknown")
    diff_text = param.String(default="", doc="the last diff, as text")
    impact_text = param.String(default="", doc="what the last change affects (its impact)")
    error = param.String(default="", doc="the last schema_error")
    tables = param.List(default=[], doc="(table, column count) rows")


class TestResultsModel(param.Parameterized):
    __test__ = False

    passed = param.Integer(default=0, doc="tests passed")
    failed = param.Integer(default=0, doc="tests failed or errored")
    skipped = param.Integer(default=0, doc="tests skipped")
    running = param.Integer(default=0, doc="tests started and not completed")
    flaky = param.Integer(default=0, doc="tests that passed on a retry after failing")
    runs = param.List(
        default=[], doc="(run, project, passed, flaky, failed, skipped, running, status) rows"
    )
    note = param.String(default="", doc="what the last test run said about itself")
    histogram = param.Dict(default={}, doc="duration histogram: left, right, count (ms)")
    failures = param.List(default=[], doc="latest failures: (time, test, message) rows")


class MuxModel(param.Parameterized):
    kpis = param.Dict(default={}, doc="KPI name -> latest value (None = no data yet)")
    trends = param.Dict(default={}, doc="KPI name -> its recent values, oldest first")
    topics = param.List(default=[], doc="Neural Mux topics: (topic, messages, last seen, data)")


class LatencyModel(param.Parameterized):
    batch = param.Dict(default={}, doc="chart columns new since the last flush")
    routes = param.List(default=[], doc="routes drawn")
    max_points = param.Integer(default=600, doc="points kept per chart (rollover)")


class BridgeModel(param.Parameterized):
    success_rate = param.Number(default=None, allow_None=True, doc="delivered / settled (0..1)")
    delivered = param.Integer(default=0, doc="deliveries accepted by targets")
    dead_lettered = param.Integer(default=0, doc="deliveries given up (bridge counter)")
    dead_letters = param.Integer(default=0, doc="unreplayed dead letters in the store")
    source = param.String(default="observed", doc="observed or bridge_metrics")
    per_target = param.List(default=[], doc="(target, delivered, dead-lettered, p50, p99) rows")
    replay_message = param.String(default="", doc="outcome of the last replay")
    replaying = param.Boolean(default=False, doc="a replay is running")
    replay_requests = param.Integer(default=0, doc="bumped by the view's replay button")
    can_replay = param.Boolean(
        default=True, doc="this session has admin rights: the replay button is shown and works"
    )


class DashboardState(param.Parameterized):
    status = param.ClassSelector(class_=StatusModel, doc="status bar")
    events = param.ClassSelector(class_=EventStreamModel, doc="live event stream")
    schema = param.ClassSelector(class_=SchemaModel, doc="schema details")
    tests = param.ClassSelector(class_=TestResultsModel, doc="test results")
    mux = param.ClassSelector(class_=MuxModel, doc="Neural Mux metrics")
    latency = param.ClassSelector(class_=LatencyModel, doc="latency charts")
    bridge = param.ClassSelector(class_=BridgeModel, doc="bridge health")

    def __init__(self, **params: object) -> None:
        params.setdefault("status", StatusModel())
        params.setdefault("events", EventStreamModel())
        params.setdefault("schema", SchemaModel())
        params.setdefault("tests", TestResultsModel())
        params.setdefault("mux", MuxModel())
        params.setdefault("latency", LatencyModel())
        params.setdefault("bridge", BridgeModel())
        super().__init__(**params)  # type: ignore[no-untyped-call]  # param's, unannotated
