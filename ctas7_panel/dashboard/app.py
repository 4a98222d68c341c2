"""Assembly: the process's hub (``pn.state.cache``), a dashboard per session, the page.

- ``get_hub(settings, environ)``: the one hub of this server process, created on first use
  from the runtime (``ctas7_panel.runtime.get_runtime(settings)``, or the development stand-in
  ``_dev_source`` when ``CTAS7_DEV_INGEST_PORT`` is set) and started on the running event loop;
- ``Dashboard(hub)``: one session's models, feed and views; ``start()`` adds its periodic flush
  (every ``period_ms``, 100 by default) and removes it when the session is destroyed;
- ``create_app(...)``: the page ``ctas7_panel/app.py`` (and ``ctas7 serve``) serves: the
  dashboard on a dark page that scrolls as a whole (no inner scroll pane holding the panels).
  It loads no web fonts and nothing from another host: the page works offline.

The same ``Dashboard`` renders in a Jupyter notebook: ``ctas7_panel.dashboard()`` (see
``ctas7_panel/dashboard/__init__.py``).

Layout: one wrapping flex row of cards (event stream, schema, latency, Neural Mux, tests,
bridge) that puts two or three side by side on a wide screen and stacks them on a phone; every
card and everything in it shrinks to the viewport's width.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.hub import Hub
from ctas7_panel.dashboard.models import DashboardState
from ctas7_panel.dashboard.probes import Probe, postgres_probe, store_probe, tcp_probe
from ctas7_panel.dashboard.session import SessionFeed
from ctas7_panel.dashboard.views import (
    BridgeHealthView,
    EventStreamView,
    LatencyView,
    MuxMetricsView,
    SchemaView,
    StatusBarView,
    TestResultsView,
)
from ctas7_panel.runtime import Runtime
from ctas7_panel.settings import Settings
from ctas7_panel.targetspec import feed_specs

if TYPE_CHECKING:
    from ctas7_panel.dashboard._dev_source import DevRuntime

log = logging.getLogger(__name__)

HUB_KEY = "ctas7.dashboard.hub"
TITLE = "CTAS-7 Telemetry"


def load_runtime(settings: Settings) -> Runtime | DevRuntime:
    """The process runtime (blocking: call it off the event loop).

    ``ctas7_panel.runtime.get_runtime(settings)`` (embedded Postgres, watcher, bridge, gateway,
    Legion, Neural Mux, demo), unless ``CTAS7_DEV_INGEST_PORT`` asks for the light stand-in
    (``_dev_source``: real bus, store and bridge, synthetic traffic at ``CTAS7_DEMO_RATE``, a
    websocket ingest on that port).
    """
    if settings.dev_ingest_port is None:
        from ctas7_panel.runtime import get_runtime

        return get_runtime(settings)
    from ctas7_panel.dashboard._dev_source import get_runtime as dev_runtime

    return dev_runtime(settings, ingest_port=settings.dev_ingest_port, rate=settings.demo_rate)


def _services(runtime: object) -> Any:
    """The runtime's ``Services`` (``Runtime.services``, ``DevRuntime.services``; None before
    it started)."""
    return getattr(runtime, "services", None)


def default_probes(settings: Settings, runtime: object) -> dict[str, Probe]:
    """Database (the runtime's, embedded or configured), the event store (as the runtime's
    bridge writes it) and each target's feed (the target table: the seed's three endpoints
    and any other): where this process's gateway serves it when it has one (it may be on other
    ports than the configured ones, e.g. ``CTAS7_GATEWAY_PORT=0``), else the configured
    endpoint."""

    async def database() -> tuple[bool, str]:
        url = getattr(_services(runtime), "database_url", None) or settings.database_url
        if not url:
            return False, "not configured (CTAS7_DATABASE_URL unset, no embedded database)"
        return await postgres_probe(url)()

    def endpoint(name: str, configured: str) -> Probe:
        async def probe() -> tuple[bool, str]:
            gateway = getattr(_services(runtime), "gateway", None)
            ports = getattr(gateway, "ports", None) or {}
            url = gateway.url(name) if gateway is not None and name in ports else configured
            return await tcp_probe(url)()

        return probe

    probes: dict[str, Probe] = {
        "database": database,
        "store": store_probe(
            lambda: getattr(getattr(_services(runtime), "bridge", None), "store_health", None)
        ),
    }
    for spec in feed_specs():
        configured = settings.endpoint(spec.name)
        if spec.feed is not None and configured is not None:
            probes[spec.name] = endpoint(spec.feed, configured)
    return probes


async def _start(hub: Hub, settings: Settings) -> None:
    """Get the runtime (off the loop), then run the hub where the runtime's bus lives.

    A threaded runtime (``ctas7_panel.runtime.Runtime``: its own loop, ``call(coro)``) runs the
    hub on that loop; the digest is thread-safe, sessions read it from Panel's loop.
    """
    try:
        runtime = await asyncio.to_thread(load_runtime, settings)
        pn.state.cache[HUB_KEY + ".runtime"] = runtime
        # the runtime's settings say where its artifacts are (the hash cache and the schema
        # snapshot next to it, under CTAS7_HOME when the database is embedded)
        settings = runtime.settings
        hub.settings = settings
        hub.probes = default_probes(settings, runtime)
        if not isinstance(runtime, Runtime):  # same-loop runtime (the development one)
            await runtime.start()
            hub.bus, hub.store = runtime.bus, runtime.store
            hub.replay = runtime.replay_dead_letters
            await hub.start()
            return
        hub.bus, hub.store = runtime.bus, runtime.store
        services = runtime.services
        bridge = services.bridge if services is not None else None
        if bridge is not None:
            call = runtime.call

            async def replay() -> int:
                return int(await asyncio.wrap_future(call(bridge.replay_dead_letters())))

            hub.replay = replay
        await asyncio.wrap_future(runtime.call(hub.start()))
        if services is not None:  # the hub stops before the store and bus it reads
            services.add_dependent(hub.close)
    except Exception as exc:
        log.exception("dashboard: the runtime or hub failed to start")
        hub.digest.set_status("bus", False, hub.clock(), f"start failed: {exc}")


def get_hub(
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    start: bool = True,
) -> Hub:
    """This process's hub (created on first call, later calls return it), started at once, or
    with ``start=False`` by the first ``start_hub()`` (a notebook: when a page shows it)."""
    hub: Hub | None = pn.state.cache.get(HUB_KEY)
    if hub is not None:
        if start:
            start_hub()
        return hub
    if settings is None:  # configured as the app is (ctas7_panel/app.py)
        import os

        settings = Settings.from_env(os.environ if environ is None else environ)
    hub = Hub(None, None, settings)
    pn.state.cache[HUB_KEY] = hub
    pn.state.cache[HUB_KEY + ".starter"] = (hub, settings)
    if start:
        start_hub()
    return hub


def start_hub() -> None:
    """Start the hub ``get_hub(start=False)`` created (its runtime, then its tasks) on the
    running event loop. Idempotent."""
    pending = pn.state.cache.pop(HUB_KEY + ".starter", None)
    if pending is None:
        return
    hub, settings = pending
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        log.warning("dashboard: no running event loop; the hub is not started")
    else:
        pn.state.cache[HUB_KEY + ".task"] = loop.create_task(_start(hub, settings))


class Dashboard(pn.viewable.Viewer):
    """One session's dashboard: models (``state``), their feed from the hub, the views."""

    period_ms = param.Integer(default=100, bounds=(50, 2000), doc="flush period per session")

    def __init__(self, hub: Hub, *, can_replay: bool = True, **params: Any) -> None:
        super().__init__(**params)  # type: ignore[no-untyped-call]  # param's, unannotated
        self.hub = hub
        self.state = DashboardState()
        self.state.bridge.can_replay = can_replay  # type: ignore[union-attr]
        self.feed = SessionFeed(hub.digest, self.state)
        s = self.state
        self.status_view = StatusBarView(model=s.status)
        self.events_view = EventStreamView(model=s.events)
        self.schema_view = SchemaView(model=s.schema)
        self.tests_view = TestResultsView(model=s.tests)
        self.mux_view = MuxMetricsView(model=s.mux)
        self.latency_view = LatencyView(model=s.latency)
        self.bridge_view = BridgeHealthView(model=s.bridge)
        s.bridge.param.watch(self._on_replay, "replay_requests")  # type: ignore[union-attr]
        self._callback: Any = None
        self.feed.flush()

    def start(self) -> None:
        """Flush every ``period_ms``; stop when the session is destroyed. Idempotent."""
        if self._callback is not None:
            return
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            # flush only once the page is in the browser (see pin_local_resources)
            self._callback = True
            pn.state.onload(self._start_flushing)
            pn.state.on_session_destroyed(self._on_destroyed)
        else:  # a notebook or a plain script: start now
            self._start_flushing()

    def _on_page_open(self) -> None:
        """A notebook page shows the output: start the hub (if it waited for a page) and the
        flushes."""
        start_hub()
        self.start()

    def _start_flushing(self) -> None:
        if (
            self._callback is None
            and pn.state.curdoc is not None
            and (pn.state.curdoc.session_context is not None)
        ):
            return  # the session ended before its page loaded
        from panel.io.callbacks import PeriodicCallback

        # background: a flush does not mark the session busy (that would flip the template's
        # busy indicator, two more messages per flush); log=False: no log line per flush
        callback = PeriodicCallback(
            callback=self.flush, period=self.period_ms, log=False, background=True
        )
        callback.start()
        self._callback = callback

    def flush(self) -> None:
        """One flush: the updates as one message (``pn.io.hold``), then the table's as another
        (the browser shows the live list before it redraws the table)."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            self.feed.flush()
            return
        with pn.io.hold(doc):
            self.feed.flush_updates()
        with pn.io.hold(doc):
            self.feed.flush_table()

    def stop(self) -> None:
        if self._callback not in (None, True):
            self._callback.stop()
        self._callback = None

    def _on_destroyed(self, session_context: Any) -> None:
        self.stop()

    async def _on_replay(self, event: Any) -> None:
        bridge = self.state.bridge
        assert bridge is not None
        if bridge.replaying or not bridge.can_replay:
            return
        bridge.param.update(replaying=True, replay_message="replaying…")
        try:
            message = await self.hub.replay_dead_letters()
        finally:
            bridge.replaying = False
        bridge.replay_message = message

    def __panel__(self) -> pn.viewable.Viewable:
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            self.start()  # served: flushes from the page's load on
        # in a notebook the flushes start when the page's end of the comm opens (see
        # _DashboardColumn): a patch sent before the output is rendered names models the page
        # does not know yet ("reference ... isn't known")
        return _DashboardColumn(
            pn.pane.HTML(
                f'<header class="ctas7-top"><h1>{TITLE}</h1></header>',
                sizing_mode="stretch_width",
                stylesheets=[markup.CSS, PAGE_CSS],
                margin=(0, 0, 4, 0),
            ),
            pn.Column(self.status_view, sizing_mode="stretch_width", margin=(0, 0, 8, 0)),
            pn.FlexBox(
                card(self.events_view, "3 1 640px"),
                card(self.schema_view, "1 1 320px"),
                card(self.latency_view, "3 1 560px"),
                card(self.mux_view, "2 1 420px"),
                card(self.tests_view, "1 1 460px"),
                card(self.bridge_view, "1 1 460px"),
                flex_wrap="wrap",
                gap="12px",
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
            styles={
                "background": markup.PALETTE["page"],
                "color": markup.PALETTE["text"],
                "padding": "10px",
                "border-radius": "6px",
            },
            css_classes=["ctas7-dashboard"],
            on_open=self._on_page_open,
        )


# Panel's own static files as the Jupyter server serves them (Panel's server extension, enabled
# when Panel is installed): the notebook then asks no CDN for Panel's stylesheets.
NOTEBOOK_DIST = "/panel-preview/static/extensions/panel/"


class _DashboardColumn(pn.Column):
    """The dashboard's outer column, for a notebook: its stylesheets point at the Jupyter server
    (Panel's own notebook output points them at its CDN unless resources are 'server'), and
    ``on_open`` is called when the page's end of the output's comm opens (the output is
    rendered)."""

    def __init__(self, *objects: Any, on_open: Any = None, **params: Any) -> None:
        super().__init__(*objects, **params)
        self._open_callback = on_open

    def _render_mimebundle(self, model: Any, doc: Any, comm: Any, location: Any = None) -> Any:
        from panel.io.resources import patch_model_css

        patch_model_css(model, dist_url=NOTEBOOK_DIST)
        doc._template_variables["dist_url"] = NOTEBOOK_DIST  # for the models' later updates
        bundle = super()._render_mimebundle(model, doc, comm, location)
        _, client_comm = self._comms[model.ref["id"]]
        opened = client_comm._on_open
        on_open = self._open_callback

        def on_client_open(msg: Any) -> None:
            if opened is not None:
                opened(msg)
            if on_open is not None:
                on_open()

        client_comm._on_open = on_client_open
        return bundle


PAGE_CSS = """
.ctas7-top { display: flex; align-items: center; gap: 12px; }
.ctas7-top h1 { font-size: 19px; font-weight: 600; margin: 2px 0; color: #d6dde6; }
"""


def card(view: Any, flex: str) -> pn.Column:
    """One panel on the dashboard: a dark box that takes ``flex`` (grow shrink basis) of its row
    and may shrink below its content's natural width (``min-width: 0``)."""
    return pn.Column(
        view,
        sizing_mode="stretch_width",
        margin=0,
        styles={
            "flex": flex,
            "min-width": "0",
            "background": markup.PALETTE["card"],
            "border": f"1px solid {markup.PALETTE['line']}",
            "border-radius": "8px",
            "padding": "10px 12px",
        },
    )


def pin_local_resources() -> None:
    """Make this session's document use the server's own CSS from its first model on.

    Panel learns a document's resource root (``dist_url``) only when it renders the page; a
    model created or updated before that (our periodic flush, under load) resolves Panel's
    stylesheets to its CDN, and since Panel caches stylesheet objects across documents, other
    sessions then ask the CDN too. Setting the root as soon as the session's document exists
    keeps every request on this server (offline dashboards, no third-party requests).
    """
    from panel.io.resources import LOCAL_DIST

    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return
    rel = pn.state.rel_path
    doc._template_variables.setdefault("dist_url", f"{rel}/{LOCAL_DIST}" if rel else LOCAL_DIST)


PAGE_RAW_CSS = f"""
body {{ background: {markup.PALETTE["page"]}; color: {markup.PALETTE["text"]}; margin: 0; }}
"""


def configure_page() -> None:
    """Panel's settings for a served dashboard page: dark widgets (the filters), the page's
    background, the title. Called per session (``ctas7 serve`` loads no extension first)."""
    pn.config.design = pn.theme.Bootstrap
    pn.config.theme = "dark"  # type: ignore[misc]  # param property, settable
    if PAGE_RAW_CSS not in pn.config.raw_css:
        pn.config.raw_css = [*pn.config.raw_css, PAGE_RAW_CSS]


def create_app(
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    admin: bool = True,
) -> pn.viewable.Viewable:
    """The page for one session: the process's hub, this session's dashboard.

    ``admin``: the session may replay dead letters (``ctas7_panel.dashboard.access`` decides).
    """
    configure_page()
    hub = get_hub(settings, environ)
    page = pn.Column(Dashboard(hub, can_replay=admin), sizing_mode="stretch_width", margin=0)
    if pn.state.curdoc is not None:
        pn.state.curdoc.title = TITLE
    return page
