"""The websocket gateway: the seed's endpoints, ``GET /metrics``, token checks, bounded sends.

Endpoints (seed default ports, each configurable; ``single_port`` serves them all on one)::

    /schema_events      8001   feed: schema_* events as published on topic ``events``
    /telemetry_bridge   8002   ingress: outside systems send events in (one JSON per frame)
    /legion_events      8003   feed: what the bridge delivered to Legion (topic target.legion)
    /dioxus_events      8004   feed: the dashboard feed (topic target.dashboard)
    /mux_events        18100   feed: what the bridge delivered to Neural Mux (target.neural_mux)

The target feeds (and their ports and endpoint settings) come from the target table
(``ctas7_panel/targetspec.py``): a target registered there gets its feed here.

plus ``GET /metrics`` (Prometheus text: the gateway's counters and the store's:
``ctas7_store_up``, ``ctas7_store_errors_total``, ...; rendered by the ``metrics`` callable the
gateway is given, which adds the bridge's) and ``GET /healthz`` on every port:
``{"status": "ok"}``, or ``{"status": "degraded", "store": {...}}`` while the store cannot be
written (HTTP 200 either way: the gateway still takes events, the bus keeps them until the store
is back; alert on ``status`` or on ``ctas7_store_up``).

Usage::

    async with Gateway(settings, bus, store=store, metrics=bridge.metrics_text) as gw:
        gw.ports          # {"telemetry_bridge": 8002, ...} (actual ports, also with port 0)
        gw.url("dioxus_events")

The gateway is split along its seams: ``gateway_auth.py`` (endpoints, ports, ``GatewayConfig``,
the role a token grants), ``gateway_ingress.py`` (``/telemetry_bridge``: validation, acks,
rejected frames kept), ``gateway_feeds.py`` (the feeds: bus readers, de-duplication, bounded
fan-out through ``fanout.py``); this module serves them (HTTP side: ``/healthz``,
``/metrics``, the token check) and runs their lifecycle. A frame larger than
``hard_max_bytes`` (4x the event limit) is refused by the websocket layer itself (close code
1009), so memory stays bounded by the frame size. Keepalive: ping every ``ping_interval`` s,
close after ``ping_timeout`` s without pong.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from ctas7_panel.access import Role
from ctas7_panel.errors import ConfigError
from ctas7_panel.lifecycle import AsyncService
from ctas7_panel.streams.gateway_auth import (
    DEFAULT_PORTS,
    DIOXUS,
    INGRESS,
    LEGION,
    MUX,
    OWN_PORTS,
    SCHEMA,
    GatewayConfig,
    GatewayStats,
    MetricRow,
    MetricsText,
    default_ports,
    feed_topics,
    request_role,
)
from ctas7_panel.streams.gateway_feeds import SEND_CHUNK_BYTES, SLOW_CONSUMER_CODE, Feeds
from ctas7_panel.streams.gateway_ingress import INGRESS_TARGET, REJECT_RETRY, Ingress

if TYPE_CHECKING:
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request, Response

    from ctas7_panel.settings import Settings
    from ctas7_panel.store import EventStore
    from ctas7_panel.store_writer import StoreHealth
    from ctas7_panel.streams.bus import Bus

log = logging.getLogger(__name__)


class Gateway(AsyncService):
    """See the module docstring. An async context manager with ``start()``/``close()``."""

    def __init__(
        self,
        settings: Settings | None,
        bus: Bus,
        *,
        store: EventStore | None = None,
        metrics: MetricsText | None = None,
        config: GatewayConfig | None = None,
        endpoints: tuple[str, ...] | None = None,
        store_health: StoreHealth | None = None,
    ) -> None:
        if config is None:
            if settings is None:
                raise ConfigError("Gateway needs settings or a GatewayConfig")
            config = GatewayConfig.from_settings(settings)
        self.config = config
        self.bus = bus
        self.store = store
        self.metrics = metrics
        self.store_health = store_health  # the bridge's store writer in this process
        self.endpoints = tuple(default_ports()) if endpoints is None else endpoints
        self.stats = GatewayStats()
        self.ports: dict[str, int] = {}
        self.ingress = Ingress(config, bus, store, self.stats)
        self.feeds = Feeds(config, bus, self.stats, feed_topics(), keep=self.ingress.keep)
        self._servers: list[Server] = []
        self._keeper: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        from websockets.asyncio.server import serve

        cfg = self.config
        by_port: dict[int, list[str]] = defaultdict(list)
        if cfg.single_port is not None:
            by_port[cfg.single_port] = list(self.endpoints)
        else:
            zero = itertools.count(-1, -1)  # port 0: one server per endpoint
            for e in self.endpoints:
                port = cfg.ports.get(e, 0)
                by_port[port if port else next(zero)].append(e)
        await self.feeds.start(self.endpoints)
        if INGRESS in self.endpoints and self.store is not None:
            self._keeper = asyncio.create_task(self.ingress.run(), name="ctas7-rejects")
        for port, served in by_port.items():
            try:
                handler, process = self._callbacks(frozenset(served))
                server = await serve(
                    handler,
                    cfg.bind,
                    max(port, 0),
                    process_request=process,
                    max_size=cfg.hard_max_bytes,
                    ping_interval=cfg.ping_interval,
                    ping_timeout=cfg.ping_timeout,
                    close_timeout=2,
                    max_queue=64,
                    compression="deflate" if cfg.compression else None,
                )
            except OSError as exc:
                await self.close()
                raise ConfigError(
                    f"gateway cannot listen on {cfg.bind}:{port} for /{', /'.join(served)}: "
                    f"{exc.strerror}; pick another port (ctas7 bridge --help) or stop the other "
                    "process"
                ) from exc
            self._servers.append(server)
            actual = next(iter(server.sockets)).getsockname()[1]
            for e in served:
                self.ports[e] = int(actual)
        log.info("gateway listening: %s", self.ports)

    @property
    def _tasks(self) -> list[asyncio.Task[None]]:
        """The gateway's running tasks: the feeds' readers and the rejects' keeper."""
        return [*self.feeds.tasks, *([self._keeper] if self._keeper is not None else [])]

    @property
    def _clients(self) -> dict[str, set[ServerConnection]]:
        return self.feeds.clients

    async def close(self) -> None:
        """Close servers and feeds; keep the pending rejects; safe to call twice."""
        self.feeds.stop()
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        tasks = self._tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.feeds.tasks.clear()
        self._keeper = None
        if self.store is not None and self.ingress.pending:
            await self.ingress.flush()

    def url(self, endpoint: str, *, host: str | None = None) -> str:
        return f"ws://{host or self.config.bind}:{self.ports[endpoint]}/{endpoint}"

    def client_count(self, endpoint: str) -> int:
        return len(self.feeds.clients.get(endpoint, ()))

    def broadcast(self, endpoint: str, data: bytes) -> int:
        """Send one JSON message to every client of ``endpoint``; returns how many got it."""
        return self.feeds.broadcast_many(endpoint, [data])

    def broadcast_many(self, endpoint: str, messages: Sequence[bytes]) -> int:
        """``Feeds.broadcast_many``: messages to every client of ``endpoint``."""
        return self.feeds.broadcast_many(endpoint, messages)

    def _callbacks(
        self, names: frozenset[str]
    ) -> tuple[
        Callable[[ServerConnection], Awaitable[None]],
        Callable[[ServerConnection, Request], Response | None],
    ]:
        async def handler(conn: ServerConnection) -> None:
            await self._handle(conn, names)

        def process(conn: ServerConnection, request: Request) -> Response | None:
            return self._process_request(conn, request, names)

        return handler, process

    # --- HTTP side ----------------------------------------------------------------------------

    def _process_request(
        self, conn: ServerConnection, request: Request, names: frozenset[str]
    ) -> Response | None:
        parts = urlsplit(request.path)
        path = parts.path.rstrip("/") or "/"
        if path == "/healthz":
            response = conn.respond(200, orjson.dumps(self.health()).decode() + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if request_role(self.config.tokens, request) is Role.NONE:
            self.stats.unauthorized += 1
            return conn.respond(401, "missing or wrong token: send Authorization: Bearer <token>\n")
        if path == "/metrics":
            response = conn.respond(200, self.prometheus())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        if path.lstrip("/") not in names:
            served = ", ".join(f"/{n}" for n in sorted(names))
            return conn.respond(404, f"no endpoint {path} on this port (served: {served})\n")
        return None

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: ``ok``, or ``degraded`` (with why) while the store is down."""
        h = self.store_health
        if h is None or h.up:
            return {"status": "ok"}
        return {"status": "degraded", "store": h.to_dict()}

    def prometheus(self) -> str:
        """``GET /metrics``: the gateway's rows rendered by the ``metrics`` callable (which adds
        the bridge's), or a note that this gateway has none."""
        if self.metrics is None:
            return "# no metrics renderer given to this gateway\n"
        return self.metrics(self.metric_rows())

    def metric_rows(self) -> list[MetricRow]:
        """The gateway's counters and gauges (and the store's, when it knows its health)."""
        s = self.stats
        rows: list[MetricRow] = [
            ("ctas7_gateway_ingress_accepted_total", "counter", {}, s.accepted),
            ("ctas7_gateway_ingress_rejected_total", "counter", {}, s.rejected),
            ("ctas7_gateway_ingress_forbidden_total", "counter", {}, s.forbidden),
            ("ctas7_gateway_ingress_publish_failed_total", "counter", {}, s.publish_failed),
            ("ctas7_gateway_slow_consumers_closed_total", "counter", {}, s.slow_closed),
            ("ctas7_gateway_unauthorized_total", "counter", {}, s.unauthorized),
            ("ctas7_gateway_feed_skipped_total", "counter", {}, s.feed_skipped),
        ]
        h = self.store_health
        if h is not None:
            rows += [
                ("ctas7_store_up", "gauge", {}, 1.0 if h.up else 0.0),
                ("ctas7_store_errors_total", "counter", {}, h.errors_total),
                ("ctas7_store_dead_lettered_total", "counter", {}, h.dead_lettered),
                ("ctas7_store_pending", "gauge", {}, h.pending),
            ]
        clients = self.feeds.clients
        for e in self.endpoints:
            rows.append(
                ("ctas7_gateway_connections", "gauge", {"endpoint": e}, len(clients.get(e, ())))
            )
        for e in self.endpoints:
            rows.append(("ctas7_gateway_sent_total", "counter", {"endpoint": e}, s.sent[e]))
        for (e, reason), n in sorted(s.skipped.items()):
            labels = {"endpoint": e, "reason": reason}
            rows.append(("ctas7_gateway_feed_sends_skipped_total", "counter", labels, n))
        return rows

    # --- websocket side -----------------------------------------------------------------------

    async def _handle(self, conn: ServerConnection, names: frozenset[str]) -> None:
        endpoint = urlsplit(conn.request.path if conn.request else "/").path.strip("/")
        if endpoint not in names:  # process_request already refused it
            return
        if endpoint == INGRESS:
            request = conn.request
            role = request_role(self.config.tokens, request) if request else Role.NONE
            await self.ingress.handle(conn, role)
            return
        await self.feeds.handle(conn, endpoint)


__all__ = [
    "DEFAULT_PORTS",
    "DIOXUS",
    "INGRESS",
    "INGRESS_TARGET",
    "LEGION",
    "MUX",
    "OWN_PORTS",
    "REJECT_RETRY",
    "SCHEMA",
    "SEND_CHUNK_BYTES",
    "SLOW_CONSUMER_CODE",
    "Gateway",
    "GatewayConfig",
    "GatewayStats",
    "MetricRow",
    "MetricsText",
    "default_ports",
    "feed_topics",
]
