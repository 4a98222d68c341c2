"""The gateway's ingress (``/telemetry_bridge``): outside systems send events in.

A frame is validated with ``Event.from_json(max_bytes=CTAS7_MAX_EVENT_BYTES,
fill_defaults=True)`` (which enforces the limits every sink can take: ``events.py``). A valid one
is published on topic ``events`` and answered ``{"ack": "<event_id>"}``; a malformed one is
answered ``{"error": "<what and how to fix>", "field": "<field or null>"}``, counted, and kept in
the dead-letter store (target ``ingress``, the frame truncated to ``reject_keep_bytes``; kept
back while the store is down, retried with backoff); the connection stays open, whatever the
frame. A reserved event type (``schema_*``, ``bridge_metrics``, ...) sent over a connection
opened with the read token is refused: ``{"error": "<the rule>", "field": "event_type",
"event_id": ...}``, counted (``ctas7_gateway_ingress_forbidden_total``) and kept as a rejected
frame. ``Ingress.keep`` also keeps what a feed could not send (``feed_skipped``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import orjson

from ctas7_panel import access
from ctas7_panel.access import Role
from ctas7_panel.backoff import RetryPolicy
from ctas7_panel.errors import Ctas7Error, EventError, StoreError
from ctas7_panel.events import Event
from ctas7_panel.streams.bus import DEFAULT_TOPIC

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from ctas7_panel.store import EventStore
    from ctas7_panel.streams.bus import Bus
    from ctas7_panel.streams.gateway_auth import GatewayConfig, GatewayStats

log = logging.getLogger("ctas7_panel.streams.gateway")

REJECT_RETRY = RetryPolicy(base=0.2, max_delay=5.0)  # keeping rejects while the store is down
INGRESS_TARGET = "ingress"


def peer_of(conn: ServerConnection) -> str:
    addr = conn.remote_address
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else str(addr)


class Ingress:
    """Validates, publishes and answers ingress frames; keeps rejected ones (``run`` is the
    keeper task, ``flush`` empties its queue at a stop)."""

    def __init__(
        self,
        config: GatewayConfig,
        bus: Bus,
        store: EventStore | None,
        stats: GatewayStats,
    ) -> None:
        self.config = config
        self.bus = bus
        self.store = store
        self.stats = stats
        self._rejects: asyncio.Queue[Event] = asyncio.Queue(1000)

    async def keep(self, event: Event) -> None:
        """Keep a rejected frame (or an event a feed could not send) as a dead letter, when
        there is a store."""
        if self.store is not None:
            await self._rejects.put(event)

    @property
    def pending(self) -> bool:
        return not self._rejects.empty()

    async def handle(self, conn: ServerConnection, role: Role) -> None:
        from websockets.exceptions import ConnectionClosed

        cfg = self.config
        peer = peer_of(conn)
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
                    await self.keep(self._reject_event(frame, exc, peer))
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
        await self.keep(self._reject_event(frame, exc, peer))

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

    async def run(self) -> None:
        """Store rejected frames in batches, in arrival order (a cancelled write still lands:
        the worker thread finishes it)."""
        while True:
            batch = [await self._rejects.get()]
            while not self._rejects.empty() and len(batch) < 500:
                batch.append(self._rejects.get_nowait())
            await self._store_rejects(batch)

    async def flush(self) -> None:
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
