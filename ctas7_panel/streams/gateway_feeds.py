"""The gateway's feeds: ``/schema_events`` and one per target of the target table
(``/legion_events``, ``/dioxus_events``, ``/mux_events``, ...).

Each feed reads its topic in a consumer group of its own (``gateway.<host>.<pid>.<n>``,
ephemeral: dropped on close, expired by the bus when the process died), so every gateway process
sees every event whichever bridge worker delivered it; a feed de-duplicates by ``event_id``
(``SeenIds``) and sends each event once to every client connected at the time: each batch read
off the bus is encoded once (one text frame per event) and written to every client in a single
write per ``SEND_CHUNK_BYTES`` (``broadcast_many``, through ``fanout.py``). Frames sent by feed
clients are read and ignored.

Bounded sends: a connection's send queue is its transport write buffer, capped at
``max_send_buffer`` bytes (default 1 MiB); a client that lets it fill up is closed with code
4008 ("slow consumer") and dropped from the feed at once. A client that cannot take a batch
now (closing, a fragmented send in progress, a failed write) misses it: every such skipped send
is counted per endpoint and reason (``ctas7_gateway_feed_sends_skipped_total``).

A feed never stops on one event: an event it cannot encode is skipped, counted and kept as a
dead letter (target ``feed:<endpoint>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from ctas7_panel.errors import BusError, EventError
from ctas7_panel.events import Event, preview
from ctas7_panel.streams import fanout
from ctas7_panel.streams.dedup import SeenIds
from ctas7_panel.streams.gateway_auth import SCHEMA
from ctas7_panel.streams.gateway_ingress import peer_of

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from ctas7_panel.streams.bus import Bus, Message, Subscription
    from ctas7_panel.streams.gateway_auth import GatewayConfig, GatewayStats

log = logging.getLogger("ctas7_panel.streams.gateway")

SLOW_CONSUMER_CODE = 4008
SEND_CHUNK_BYTES = 16 * 1024  # frames written to a feed client per system call, at most
_group_seq = itertools.count(1)


class Feeds:
    """The feed endpoints of one gateway: their bus readers and their clients."""

    def __init__(
        self,
        config: GatewayConfig,
        bus: Bus,
        stats: GatewayStats,
        topics: dict[str, str],
        *,
        keep: Callable[[Event], Awaitable[None]],
    ) -> None:
        self.config = config
        self.bus = bus
        self.stats = stats
        self.topics = topics  # feed endpoint -> bus topic
        self.keep = keep  # where an event a feed cannot encode goes (a dead letter)
        self.clients: dict[str, set[ServerConnection]] = {e: set() for e in topics}
        self.tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    async def start(self, endpoints: Sequence[str]) -> None:
        """Subscribe each feed of ``endpoints`` and start relaying it."""
        for feed in (e for e in endpoints if e in self.topics):
            group = f"gateway.{socket.gethostname()}.{os.getpid()}.{next(_group_seq)}"
            sub = await self.bus.subscribe(
                group, topic=self.topics[feed], start="new", ephemeral=True
            )
            self.tasks.append(
                asyncio.create_task(self._relay(feed, sub), name=f"ctas7-feed-{feed}")
            )

    def stop(self) -> None:
        self._stopping.set()

    async def handle(self, conn: ServerConnection, endpoint: str) -> None:
        """A feed client: registered until it goes away (what it sends is ignored)."""
        clients = self.clients[endpoint]
        clients.add(conn)
        try:
            async for _ in conn:  # feeds ignore what clients send
                pass
        except Exception:  # a client going away is not an error
            pass
        finally:
            clients.discard(conn)

    async def _relay(self, endpoint: str, sub: Subscription) -> None:
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
                await self.keep(skipped_event(e, endpoint, exc))
        return frames

    def broadcast_many(self, endpoint: str, messages: Sequence[bytes]) -> int:
        """Send JSON messages (text frames, in order) to every client of ``endpoint``; returns
        how many clients got the last of them.

        The frames are encoded once and written to each client in one write per
        ``SEND_CHUNK_BYTES`` (one system call per client per chunk, not per event). Before each
        chunk, clients whose write buffer is over ``max_send_buffer`` are closed (4008)
        instead: a client holds at most that plus one chunk.
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
        clients = self.clients[endpoint]
        if not clients or not messages:
            return 0
        limit = self.config.max_send_buffer
        blob: list[bytes] = []

        def encoded() -> bytes:
            if not blob:
                blob.append(fanout.encode(messages))
            return blob[0]

        sent = 0
        stats = self.stats
        for conn in list(clients):
            outcome = fanout.write(conn, messages, encoded, limit)
            if outcome is fanout.Outcome.SENT:
                sent += 1
                continue
            if outcome is fanout.Outcome.GONE:
                clients.discard(conn)
                continue
            stats.skipped[(endpoint, outcome.value)] += len(messages)
            if outcome is fanout.Outcome.SLOW:
                clients.discard(conn)
                stats.slow_closed += 1
                reason = f"slow consumer: more than {limit} bytes waiting to be sent"
                task = asyncio.create_task(conn.close(SLOW_CONSUMER_CODE, reason))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            elif outcome is fanout.Outcome.FAILED:
                log.debug("gateway feed /%s: cannot write to %s", endpoint, peer_of(conn))
        stats.sent[endpoint] += sent * len(messages)
        stats.relayed[endpoint] += len(messages)
        return sent


def skipped_event(event: Event, endpoint: str, exc: EventError) -> Event:
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
