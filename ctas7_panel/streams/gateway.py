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

Feeds: each feed reads its topic in a consumer group of its own (``gateway.<host>.<pid>.<n>``,
ephemeral: dropped on close, expired by the bus when the process died), so every gateway process
sees every event whichever bridge worker delivered it; a feed de-duplicates by ``event_id``
(``SeenIds``) and sends each event once to every client connected at the time: each batch read
off the bus is encoded once (one text frame per event) and written to every client in a single
write (``broadcast_many``). Frames sent by feed clients are read and ignored. permessage-deflate
is off unless ``compression=True``: events are a few hundred bytes, and compressing every one
for every client costs more CPU than it saves.

Ingress: a frame is validated with ``Event.from_json(max_bytes=CTAS7_MAX_EVENT_BYTES,
fill_defaults=True)`` (which enforces the limits every sink can take: ``events.py``). A valid one
is published on topic ``events`` and answered ``{"ack": "<event_id>"}``; a malformed one is
answered ``{"error": "<what and how to fix>", "field": "<field or null>"}``, counted, and kept in
the dead-letter store (target ``ingress``, the frame truncated to ``reject_keep_bytes``; kept
back while the store is down, retried with backoff); the connection stays open, whatever the
frame. A frame larger than ``hard_max_bytes`` (4x the event limit) is refused by the websocket
layer itself (close code 1009), so memory stays bounded by the frame size.

A feed never stops on one event: an event it cannot encode is skipped, counted and kept as a
dead letter (target ``feed:<endpoint>``).

Bounded sends: a connection's send queue is its transport write buffer, capped at
``max_send_buffer`` bytes (default 1 MiB); a client that lets it fill up is closed with code
4008 ("slow consumer") and dropped from the feed at once. Keepalive: ping every
``ping_interval`` s, close after ``ping_timeout`` s without pong.

Security (``ctas7_panel.access``, ``docs/security.md``): loopback by default; binding elsewhere
needs ``CTAS7_TOKEN``. When a token is set (``CTAS7_TOKEN`` and/or ``CTAS7_ADMIN_TOKEN``), every
request (websocket or ``/metrics``) must carry one as ``Authorization: Bearer <token>`` or
``?token=<token>``; it is compared in constant time; otherwise HTTP 401. On the ingress a
reserved event type (``schema_*``, ``bridge_metrics``, ...) sent over a connection opened with
the read token is refused: ``{"error": "<the rule>", "field": "event_type", "event_id": ...}``,
counted (``ctas7_gateway_ingress_forbidden_total``) and kept as a rejected frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from ctas7_panel import access
from ctas7_panel.access import Role, Tokens
from ctas7_panel.bridge.delivery import RetryPolicy  # pure; moves with refa's backoff module
from ctas7_panel.errors import BusError, ConfigError, Ctas7Error, EventError, StoreError
from ctas7_panel.events import Event, preview
from ctas7_panel.netutil import endpoint_is_local
from ctas7_panel.settings import DEFAULT_MAX_EVENT_BYTES
from ctas7_panel.streams.bus import DEFAULT_TOPIC
from ctas7_panel.streams.dedup import SeenIds
from ctas7_panel.targetspec import feed_specs

if TYPE_CHECKING:
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request, Response

    from ctas7_panel.settings import Settings
    from ctas7_panel.store import EventStore
    from ctas7_panel.store_writer import StoreHealth
    from ctas7_panel.streams.bus import Bus, Message

log = logging.getLogger(__name__)

SCHEMA = "schema_events"
INGRESS = "telemetry_bridge"
LEGION = "legion_events"
DIOXUS = "dioxus_events"
MUX = "mux_events"
OWN_PORTS: dict[str, int] = {SCHEMA: 8001, INGRESS: 8002}  # the gateway's own endpoints
MetricRow = tuple[str, str, dict[str, str], float]  # (name, type, labels, value)
MetricsText = Callable[[Sequence[MetricRow]], str]  # the gateway's rows -> /metrics text


def default_ports() -> dict[str, int]:
    """Every endpoint and its default port: the gateway's own, then each target feed's."""
    ports = dict(OWN_PORTS)
    for spec in feed_specs():
        assert spec.feed is not None
        ports[spec.feed] = spec.default_port or 0
    return ports


def feed_topics() -> dict[str, str]:
    """Each feed endpoint and the bus topic it relays."""
    topics = {SCHEMA: DEFAULT_TOPIC}
    for spec in feed_specs():
        assert spec.feed is not None
        topics[spec.feed] = spec.topic
    return topics


DEFAULT_PORTS: dict[str, int] = default_ports()  # the built-in targets' (default_ports(): all)
SLOW_CONSUMER_CODE = 4008
REJECT_RETRY = RetryPolicy(base=0.2, max_delay=5.0)  # keeping rejects while the store is down
SEND_CHUNK_BYTES = 16 * 1024  # frames written to a feed client per system call, at most
INGRESS_TARGET = "ingress"


@dataclass(frozen=True)
class GatewayConfig:
    """Where and how the gateway listens. ``GatewayConfig.from_settings(settings, ...)``."""

    bind: str = "127.0.0.1"
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    ports: Mapping[str, int] = field(default_factory=default_ports)
    single_port: int | None = None
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_send_buffer: int = 1 << 20
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    reject_keep_bytes: int = 4096
    compression: bool = False  # permessage-deflate: costs more CPU than it saves on events

    def __post_init__(self) -> None:
        tokens = access.check_tokens(self.token, self.admin_token)
        if not access.is_loopback(self.bind) and not tokens.configured:
            raise ConfigError(
                f"gateway bind {self.bind!r} is reachable from other machines: set CTAS7_TOKEN "
                "(or bind 127.0.0.1)"
            )
        known = default_ports()
        unknown = sorted(set(self.ports) - set(known))
        if unknown:
            raise ConfigError(f"unknown gateway endpoint {unknown[0]!r}: use {', '.join(known)}")

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.token, self.admin_token)

    @property
    def hard_max_bytes(self) -> int:
        return 4 * self.max_event_bytes

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        single_port: int | None = None,
        ports: Mapping[str, int] | None = None,
        **options: Any,
    ) -> GatewayConfig:
        """Ports: the seed's defaults, the port of each target's endpoint setting
        (``CTAS_LEGION_ENDPOINT``, ``CTAS_DIOXUS_ENDPOINT``, ``CTAS_NEURAL_MUX_ENDPOINT``, ...)
        when it is on this machine, then ``ports`` (CLI flags)."""
        chosen = default_ports()
        for spec in feed_specs():
            assert spec.feed is not None
            url = settings.endpoint(spec.name)
            port = urlsplit(url).port if url else None
            if url and port and endpoint_is_local(url):
                chosen[spec.feed] = port
        chosen.update(ports or {})
        return cls(
            bind=settings.bind,
            token=settings.token,
            admin_token=settings.admin_token,
            ports=chosen,
            single_port=single_port,
            max_event_bytes=settings.max_event_bytes,
            **options,
        )


@dataclass
class GatewayStats:
    accepted: int = 0
    rejected: int = 0
    forbidden: int = 0  # reserved event types sent with the read token
    publish_failed: int = 0
    rejects_kept: int = 0
    slow_closed: int = 0
    unauthorized: int = 0
    feed_skipped: int = 0  # events a feed could not encode (dead-lettered)
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    relayed: dict[str, int] = field(default_factory=lambda: defaultdict(int))


_group_seq = itertools.count(1)


class Gateway:
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
        self.feed_topics = feed_topics()
        self.stats = GatewayStats()
        self.ports: dict[str, int] = {}
        self._clients: dict[str, set[ServerConnection]] = {e: set() for e in self.endpoints}
        self._servers: list[Server] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._rejects: asyncio.Queue[Event] = asyncio.Queue(1000)
        self._stopping = asyncio.Event()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
        for feed in (e for e in self.endpoints if e in self.feed_topics):
            group = f"gateway.{socket.gethostname()}.{os.getpid()}.{next(_group_seq)}"
            sub = await self.bus.subscribe(
                group, topic=self.feed_topics[feed], start="new", ephemeral=True
            )
            self._tasks.append(
                asyncio.create_task(self._relay(feed, sub), name=f"ctas7-feed-{feed}")
            )
        if INGRESS in self.endpoints and self.store is not None:
            self._tasks.append(asyncio.create_task(self._keep_rejects(), name="ctas7-rejects"))
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

    async def close(self) -> None:
        """Close servers and feeds; keep the pending rejects; safe to call twice."""
        self._stopping.set()
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.store is not None and not self._rejects.empty():
            await self._flush_rejects()

    def url(self, endpoint: str, *, host: str | None = None) -> str:
        return f"ws://{host or self.config.bind}:{self.ports[endpoint]}/{endpoint}"

    def client_count(self, endpoint: str) -> int:
        return len(self._clients.get(endpoint, ()))

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
        if self._role(request) is Role.NONE:
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

    def _role(self, request: Request) -> Role:
        """The role the request's token grants (``Authorization: Bearer`` or ``?token=``)."""
        tokens = self.config.tokens
        if not tokens.configured:
            return Role.ADMIN
        given = access.bearer(request.headers.get("Authorization"))
        if given is None:
            values = parse_qs(urlsplit(request.path).query).get("token")
            given = values[0] if values else None
        return tokens.role_for(given)

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
        for e in self.endpoints:
            rows.append(
                ("ctas7_gateway_connections", "gauge", {"endpoint": e}, len(self._clients[e]))
            )
        for e in self.endpoints:
            rows.append(("ctas7_gateway_sent_total", "counter", {"endpoint": e}, s.sent[e]))
        return rows

    # --- websocket side -----------------------------------------------------------------------

    async def _handle(self, conn: ServerConnection, names: frozenset[str]) -> None:
        endpoint = urlsplit(conn.request.path if conn.request else "/").path.strip("/")
        if endpoint not in names:  # process_request already refused it
            return
        if endpoint == INGRESS:
            await self._ingress(conn)
            return
        clients = self._clients[endpoint]
        clients.add(conn)
        try:
            async for _ in conn:  # feeds ignore what clients send
                pass
        except Exception:  # a client going away is not an error
            pass
        finally:
            clients.discard(conn)

    async def _ingress(self, conn: ServerConnection) -> None:
        from websockets.exceptions import ConnectionClosed

        cfg = self.config
        peer = _peer(conn)
        role = self._role(conn.request) if conn.request is not None else Role.NONE
        try:
            async for frame in conn:
                try:
                    event = Event.from_json(
                        frame,
                        max_bytes=cfg.max_event_bytes,
                        fill_defaults=True,
                        default_source="external",
                    )
                except Exception as exc:  # EventError; anything else is a bug, contained too
                    if not isinstance(exc, EventError):
                        log.exception("gateway: validating a frame from %s failed", peer)
                        exc = EventError(f"the frame could not be read: {type(exc).__name__}")
                    self.stats.rejected += 1
                    await conn.send(orjson.dumps({"error": str(exc), "field": exc.field}).decode())
                    if self.store is not None:
                        await self._rejects.put(self._reject_event(frame, exc, peer))
                    continue
                if not cfg.tokens.may_publish(role, event.event_type):
                    await self._forbid(conn, frame, event, peer)
                    continue
                try:
                    await self.bus.publish(event, topic=DEFAULT_TOPIC)
                except Exception as exc:  # the bus (or its overflow store) cannot take it now
                    if not isinstance(exc, Ctas7Error):
                        log.exception("gateway: publishing %s failed", event.event_id)
                    self.stats.publish_failed += 1
                    reply = {"error": f"not accepted, send again: {exc}", "field": None}
                    await conn.send(orjson.dumps({**reply, "event_id": event.event_id}).decode())
                    continue
                self.stats.accepted += 1
                await conn.send('{"ack":' + orjson.dumps(event.event_id).decode() + "}")
        except ConnectionClosed:
            pass

    async def _forbid(
        self, conn: ServerConnection, frame: str | bytes, event: Event, peer: str
    ) -> None:
        """A reserved type over a read-token connection: error frame naming the rule, counted,
        kept as a rejected frame (the connection stays open)."""
        self.stats.forbidden += 1
        exc = EventError(access.reserved_refusal(event.event_type), field="event_type")
        log.warning("gateway: refused %s from %s: read token", event.event_type, peer)
        reply = {"error": str(exc), "field": exc.field, "event_id": event.event_id}
        await conn.send(orjson.dumps(reply).decode())
        if self.store is not None:
            await self._rejects.put(self._reject_event(frame, exc, peer))

    def _reject_event(self, frame: str | bytes, exc: EventError, peer: str) -> Event:
        raw = frame.encode("utf-8", "replace") if isinstance(frame, str) else bytes(frame)
        keep = self.config.reject_keep_bytes
        return Event.create(
            "ingress_rejected",
            {
                "frame": raw[:keep].decode("utf-8", "replace"),
                "frame_bytes": len(raw),
                "truncated": len(raw) > keep,
                "error": str(exc),
                "field": exc.field,
                "peer": peer,
            },
            source_node="gateway",
        )

    async def _keep_rejects(self) -> None:
        """Store rejected frames in batches, in arrival order (a cancelled write still lands:
        the worker thread finishes it)."""
        while True:
            batch = [await self._rejects.get()]
            while not self._rejects.empty() and len(batch) < 500:
                batch.append(self._rejects.get_nowait())
            await self._store_rejects(batch)

    async def _flush_rejects(self) -> None:
        while not self._rejects.empty():
            batch: list[Event] = []
            while not self._rejects.empty() and len(batch) < 500:
                batch.append(self._rejects.get_nowait())
            await self._store_rejects(batch, patience=5.0)

    async def _store_rejects(self, batch: list[Event], *, patience: float | None = None) -> None:
        """Keep rejected frames (and events a feed could not send) as dead letters; while the
        store is down, try again with backoff (for at most ``patience`` seconds, then give up
        with one log line; None: until it works)."""
        assert self.store is not None
        store = self.store
        todo = list(batch)

        def write() -> None:
            while todo:
                e = todo[0]
                target = e.payload.get("target", INGRESS_TARGET)
                store.add_dead_letter(e, target, e.payload["error"][:500])
                todo.pop(0)

        started = time.monotonic()
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(write)
                break
            except StoreError as exc:
                attempt += 1
                if attempt == 1:
                    log.error("gateway: cannot keep %d rejected frames yet: %s", len(todo), exc)
                delay = REJECT_RETRY.delay(attempt, 0.5)
                if patience is not None and time.monotonic() - started + delay > patience:
                    log.error("gateway: %d rejected frames not kept: %s", len(todo), exc)
                    return
                await asyncio.sleep(delay)
        self.stats.rejects_kept += len(batch)

    # --- feeds --------------------------------------------------------------------------------

    async def _relay(self, endpoint: str, sub: Any) -> None:
        seen = SeenIds(100_000)
        try:
            while not self._stopping.is_set():
                try:
                    msgs: list[Message] = await sub.get(512, timeout=0.2)
                except BusError as exc:
                    log.error("gateway feed /%s: %s", endpoint, exc)
                    await asyncio.sleep(0.5)
                    continue
                try:
                    frames = await self._frames(endpoint, msgs, seen)
                    if frames:
                        self.broadcast_many(endpoint, frames)
                except Exception:  # never stop a feed; the events are acked (feeds are live)
                    log.exception("gateway feed /%s: a batch could not be sent", endpoint)
                if msgs:
                    with contextlib.suppress(BusError):
                        await sub.ack(*msgs)
        finally:
            with contextlib.suppress(Exception):
                await sub.close()

    async def _frames(self, endpoint: str, msgs: list[Message], seen: SeenIds) -> list[bytes]:
        """The frames of a batch, each event once; one that cannot be encoded is skipped and
        kept as a dead letter (target ``feed:<endpoint>``)."""
        frames: list[bytes] = []
        now = time.monotonic()
        for m in msgs:
            e = m.event
            if endpoint == SCHEMA and not e.event_type.startswith("schema_"):
                continue
            if seen.check_and_add(e.event_id, now):
                continue
            try:
                frames.append(e.to_json())
            except EventError as exc:
                self.stats.feed_skipped += 1
                log.error("gateway feed /%s: skipped %r: %s", endpoint, e.event_id, exc)
                if self.store is not None:
                    await self._rejects.put(_skipped(e, endpoint, exc))
        return frames

    def broadcast(self, endpoint: str, data: bytes) -> int:
        """Send one JSON message to every client of ``endpoint``; returns how many got it."""
        return self.broadcast_many(endpoint, [data])

    def broadcast_many(self, endpoint: str, messages: Sequence[bytes]) -> int:
        """Send JSON messages (text frames, in order) to every client of ``endpoint``; returns
        how many clients got the last of them.

        The frames are encoded once and written to each client in one write per
        ``SEND_CHUNK_BYTES`` (one system call per client per chunk, not per event); a client that
        negotiated an extension (permessage-deflate, with ``compression`` on) gets them through
        its own protocol. Before each chunk, clients whose write buffer is over
        ``max_send_buffer`` are closed (4008) instead: a client holds at most that plus one
        chunk.
        """
        start, size, sent = 0, 0, 0
        for i, data in enumerate(messages):
            if size and size + len(data) > SEND_CHUNK_BYTES:
                self._broadcast_chunk(endpoint, messages[start:i])
                start, size = i, 0
            size += len(data)
        if start < len(messages):
            sent = self._broadcast_chunk(endpoint, messages[start:])
        return sent

    def _broadcast_chunk(self, endpoint: str, messages: Sequence[bytes]) -> int:
        from websockets.frames import Frame, Opcode
        from websockets.protocol import State

        clients = self._clients[endpoint]
        if not clients or not messages:
            return 0
        limit = self.config.max_send_buffer
        blob: bytes | None = None
        sent = 0
        for conn in list(clients):
            transport = conn.transport
            if transport is None or transport.is_closing():
                clients.discard(conn)
                continue
            if transport.get_write_buffer_size() > limit:
                clients.discard(conn)
                self.stats.slow_closed += 1
                reason = f"slow consumer: more than {limit} bytes waiting to be sent"
                task = asyncio.create_task(conn.close(SLOW_CONSUMER_CODE, reason))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
                continue
            protocol = conn.protocol
            if protocol.state is not State.OPEN or getattr(conn, "send_in_progress", None):
                continue
            try:
                if protocol.extensions:
                    for data in messages:
                        protocol.send_text(data)
                    conn.send_data()
                else:
                    if blob is None:
                        blob = b"".join(
                            Frame(Opcode.TEXT, data).serialize(mask=False) for data in messages
                        )
                    transport.write(blob)
            except Exception as exc:  # a connection going away is not the feed's problem
                log.debug("gateway feed /%s: cannot write to %s: %s", endpoint, _peer(conn), exc)
                continue
            sent += 1
        self.stats.sent[endpoint] += sent * len(messages)
        self.stats.relayed[endpoint] += len(messages)
        return sent


def _skipped(event: Event, endpoint: str, exc: EventError) -> Event:
    """The dead letter of an event feed ``endpoint`` could not encode (what can be shown)."""
    return Event(
        event.event_id,
        "feed_skipped",
        time.time(),
        "gateway",
        {
            "event": preview(event.to_dict()),
            "error": str(exc),
            "target": f"feed:{endpoint}",
        },
    )


def _peer(conn: ServerConnection) -> str:
    addr = conn.remote_address
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else str(addr)
