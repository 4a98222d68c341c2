"""Send test events off the test's path: a background thread, a queue, batches, one warning.

``TelemetrySender(config)``: ``start()``, ``submit(event)`` (never blocks, never raises),
``close(timeout)`` flushes what is queued and returns the problems met (empty when everything
was delivered). The thread takes what is queued (up to ``batch`` events at a time) and hands
each batch to every sink:

- the event store (``CTAS7_STORE_URL``): always, so nothing is lost when the rest is down;
- the bus, when ``CTAS7_BUS_URL`` is ``redis://``: published on topic ``events`` (the bridge
  consumes it in group ``bridge``);
- otherwise the bridge's websocket ingress (``CTAS7_BRIDGE_URL``, default the seed's
  ``ws://127.0.0.1:8002/telemetry_bridge``): one event per frame, each answered ``{"ack": id}``
  or ``{"error": ...}``; it sends ``CTAS7_ADMIN_TOKEN`` when set (the audit's ``schema_*``
  events are reserved), else ``CTAS7_TOKEN``. For one-shot commands (``ctas7 audit``,
  ``ctas7 ingest``) the default ingress is optional: when nothing listens there (no app
  running) the events stay in the store and nothing is reported; a configured ingress that
  refuses is reported.

A sink that fails keeps its undelivered events (bounded: ``max_pending``, oldest dropped and
counted) and is retried at most every ``retry_interval`` seconds and once more at ``close``.
Problems are collected, not raised: the caller turns them into one warning. The sender's
thread owns a private event loop for the asynchronous clients (Redis, websockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ctas7_panel.errors import BusError, DeliveryError
from ctas7_panel.events import Event
from ctas7_panel.settings import redact_url

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BRIDGE_URL = "ws://127.0.0.1:8002/telemetry_bridge"
_STOP = object()


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """Where test events go. ``from_settings`` picks the bus or the bridge from ``bus_url``."""

    store_url: str | None = None
    bus_url: str | None = None  # redis://... (None: do not publish on a bus)
    bridge_url: str | None = None  # ws://.../telemetry_bridge (None: do not send to a bridge)
    bridge_optional: bool = False  # True: a refused connection is "no app running", not a problem
    token: str | None = None
    batch: int = 500
    connect_timeout: float = 2.0
    reply_timeout: float = 5.0
    retry_interval: float = 2.0
    max_pending: int = 100_000
    max_queue: int = 100_000

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        bridge_url: str | None = None,
        optional_default: bool = False,
        **overrides: Any,
    ) -> TelemetryConfig:
        """Redis bus when configured, else the bridge's ingress; always the store.

        The ingress is ``bridge_url`` (a flag or ini value), else ``settings.bridge_url``
        (``CTAS7_BRIDGE_URL``, default the seed's). ``optional_default``: when that is the
        default URL, a refused connection means no app is running (see the module docstring).
        """
        remote_bus = not settings.bus_url.startswith("memory")
        url = bridge_url or settings.bridge_url
        defaults = {DEFAULT_BRIDGE_URL, settings.gateway_bridge_url}
        values: dict[str, Any] = {
            "store_url": settings.store_url,
            "bus_url": settings.bus_url if remote_bus else None,
            "bridge_url": None if remote_bus else url,
            "bridge_optional": optional_default and url in defaults,
            "token": settings.client_token,  # admin when set: audits publish schema_* events
        }
        values.update(overrides)
        return cls(**values)


class Sink(Protocol):
    name: str

    async def send(self, events: list[Event]) -> int:
        """Deliver; return how many were refused for good. Raise when nothing can be sent."""
        ...

    async def close(self) -> None: ...


class StoreSink:
    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"event store {redact_url(url)}"
        self._store: Any = None

    async def send(self, events: list[Event]) -> int:
        from ctas7_panel.store import open_store

        if self._store is None:
            self._store = open_store(self.url)
        self._store.append(events)
        return 0

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            store.close()


class BusSink:
    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"bus {redact_url(url)}"
        self._bus: Any = None

    async def send(self, events: list[Event]) -> int:
        from ctas7_panel.streams import open_bus

        if self._bus is None:
            bus = open_bus(self.url)
            await bus.start()
            self._bus = bus
        try:
            await self._bus.publish_many(events, topic="events")
        except BusError:
            await self.close()  # reconnect next time
            raise
        return 0

    async def close(self) -> None:
        if self._bus is not None:
            bus, self._bus = self._bus, None
            with contextlib.suppress(Exception):
                await bus.close()


class BridgeSink:
    """The bridge's websocket ingress: frames out, one ``ack`` or ``error`` reply each."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        connect_timeout: float,
        reply_timeout: float,
        optional: bool = False,
    ) -> None:
        self.url = url
        self.name = f"bridge {redact_url(url)}"
        self.optional = optional  # nobody listening is not a problem (the events are stored)
        self.token = token
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.first_rejection: str | None = None
        self._conn: Any = None

    async def _connect(self) -> Any:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        return await connect(
            self.url,
            open_timeout=self.connect_timeout,
            additional_headers=headers,
            max_size=2**20,
            ping_interval=None,
        )

    async def send(self, events: list[Event]) -> int:
        try:
            if self._conn is None:
                self._conn = await self._connect()
            conn = self._conn
            for e in events:
                await conn.send(e.to_json().decode())
            refused = 0
            async with asyncio.timeout(self.reply_timeout):
                for _ in events:
                    reply = orjson.loads(await conn.recv())
                    if "ack" not in reply:
                        refused += 1
                        if self.first_rejection is None:
                            self.first_rejection = str(reply.get("error"))
            return refused
        except Exception as exc:  # refused, reset, timed out, closed, garbled: retry later
            await self.close()
            raise DeliveryError(_describe(exc)) from exc

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, TimeoutError):
        text = "timed out"
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in text:
        text = "connection refused"
    return text.splitlines()[0]


@dataclass
class _State:
    sink: Any
    pending: deque[Event]
    retry_at: float = 0.0
    error: str | None = None  # the last failure, cleared by a success
    delivered: int = 0
    refused: int = 0
    dropped: int = 0
    absent: bool = False  # an optional sink with nobody listening: not tried again


class TelemetrySender:
    """Background delivery of events to the configured sinks. Thread-safe ``submit``."""

    def __init__(self, config: TelemetryConfig, *, sinks: list[Any] | None = None) -> None:
        self.config = config
        if sinks is None:
            sinks = []
            if config.store_url:
                sinks.append(StoreSink(config.store_url))
            if config.bus_url:
                sinks.append(BusSink(config.bus_url))
            if config.bridge_url:
                sinks.append(
                    BridgeSink(
                        config.bridge_url,
                        token=config.token,
                        connect_timeout=config.connect_timeout,
                        reply_timeout=config.reply_timeout,
                        optional=config.bridge_optional,
                    )
                )
        self._states = [_State(s, deque()) for s in sinks]
        self._queue: queue.Queue[Any] = queue.Queue(config.max_queue)
        self._thread: threading.Thread | None = None
        self.submitted = 0
        self.overflowed = 0
        self.problems: list[str] = []

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ctas7-telemetry", daemon=True)
            self._thread.start()

    def submit(self, event: Event) -> None:
        """Queue one event; when the queue is full the event is counted as dropped."""
        try:
            self._queue.put_nowait(event)
            self.submitted += 1
        except queue.Full:
            self.overflowed += 1

    def close(self, timeout: float = 10.0) -> list[str]:
        """Deliver what is queued (one last try for failed sinks); return the problems."""
        if self._thread is None:
            return []
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.problems.append(f"telemetry not flushed within {timeout:g} s: gave up")
        self._thread = None
        return self.problems

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        return {
            st.sink.name: {
                "delivered": st.delivered,
                "refused": st.refused,
                "dropped": st.dropped,
                "pending": len(st.pending),
            }
            for st in self._states
        }

    # -- the thread

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            stop = False
            while not stop:
                waiting = any(st.pending for st in self._states)
                try:
                    item = self._queue.get(timeout=self.config.retry_interval if waiting else None)
                except queue.Empty:
                    item = None
                batch: list[Event] = []
                while item is not None:
                    if item is _STOP:
                        stop = True
                    else:
                        batch.append(item)
                    if len(batch) >= self.config.batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = None
                loop.run_until_complete(self._deliver(batch, final=stop))
            loop.run_until_complete(self._close_sinks())
            self.problems.extend(self._summarise())
        except Exception as exc:  # never let the thread die silently
            log.exception("ctas7 telemetry thread failed")
            self.problems.append(f"telemetry thread failed: {exc}")
        finally:
            loop.close()

    async def _deliver(self, batch: list[Event], *, final: bool) -> None:
        now = time.monotonic()
        for st in self._states:
            if st.absent:
                continue
            st.pending.extend(batch)
            overflow = len(st.pending) - self.config.max_pending
            for _ in range(max(0, overflow)):
                st.pending.popleft()
                st.dropped += 1
            if not st.pending or (st.error is not None and now < st.retry_at and not final):
                continue
            while st.pending:
                chunk = [st.pending[i] for i in range(min(self.config.batch, len(st.pending)))]
                try:
                    st.refused += await st.sink.send(chunk)
                except Exception as exc:  # any sink failure: keep the events, retry later
                    if getattr(st.sink, "optional", False) and str(exc) == "connection refused":
                        st.absent = True  # no app is running: the store has the events
                        st.pending.clear()
                        break
                    st.error = str(exc)
                    st.retry_at = time.monotonic() + self.config.retry_interval
                    break
                for _ in chunk:
                    st.pending.popleft()
                st.delivered += len(chunk)
                st.error = None

    async def _close_sinks(self) -> None:
        for st in self._states:
            with contextlib.suppress(Exception):
                await st.sink.close()

    def _summarise(self) -> list[str]:
        out = []
        stored = any(
            isinstance(st.sink, StoreSink) and not st.pending and not st.dropped
            for st in self._states
        )
        for st in self._states:
            if st.pending or st.dropped:
                lost = len(st.pending) + st.dropped
                where = (
                    " (all of them are in the event store)"
                    if stored and not isinstance(st.sink, StoreSink)
                    else ""
                )
                out.append(
                    f"{st.sink.name}: {lost} event(s) not delivered: "
                    f"{st.error or 'dropped, too many pending'}{where}"
                )
            if st.refused:
                first = getattr(st.sink, "first_rejection", None)
                out.append(f"{st.sink.name}: refused {st.refused} event(s): {first}")
        if self.overflowed:
            out.append(f"{self.overflowed} event(s) dropped: the telemetry queue was full")
        return out
