"""``NeuralMux``: topics with pattern subscriptions, and KPI metrics computed from them.

Lifecycle: ``await mux.start()`` (or ``async with mux``) opens the KPI backend (Redis when
``CTAS7_BUS_URL`` is ``redis://``, else memory; ``backend=`` overrides) and, when a bus is given,
consumes bus topic ``target.neural_mux`` in group ``neural_mux``. ``await mux.close()`` stops.

Every message (from the bus, or ``publish(topic, data)`` in process) is recorded once per
``event_id`` in the KPI state, then fanned out to listeners and subscriptions whose pattern
matches its topic. A message whose KPIs cannot be recorded (Redis down) is not acked: it is
retried with backoff, so nothing is lost.

The consumer never stops because of one event: an event that is not a mux message, or that
fails while the KPI backend answers (checked with a read, so an outage is never mistaken for a
bad event), is acked, counted in ``stats["rejected"]`` and handed to ``dead_letter`` (target
``consumer:neural_mux``, with the reason; e.g. the store's dead-letter table); the next events
flow.

The ``/mux_events`` feed hook, for the websocket gateway:

- ``mux.add_listener(fn, pattern="#")`` / ``remove_listener(fn)``: ``fn(MuxMessage)`` is called
  (awaited when async) for every matching message; its errors are logged, never raised;
- ``async with mux.subscribe("ctas7.schema.*") as sub: async for msg in sub: ...`` a bounded
  queue per subscriber (``maxsize``); a subscriber that falls behind loses its *oldest* queued
  live messages, counted in ``sub.dropped`` (KPIs and the event store still have everything).

``MuxMessage.to_json()`` is the wire form: ``{"topic", "data", "routing_key", "event_id",
"event_type", "timestamp", "source_node"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from ctas7_panel.backoff import backoff
from ctas7_panel.errors import Ctas7Error, EventError
from ctas7_panel.events import Event, new_event_id
from ctas7_panel.lifecycle import AsyncService, cancel_and_wait
from ctas7_panel.mux.backends import KpiBackend, MemoryKpiBackend, RedisKpiBackend
from ctas7_panel.mux.metrics import KpiConfig, compute_kpis, extract_updates, flat_kpis
from ctas7_panel.mux.prometheus import to_prometheus
from ctas7_panel.mux.topics import (
    MuxMessage,
    check_pattern,
    check_topic,
    message_from_event,
    topic_matches,
)
from ctas7_panel.settings import Settings
from ctas7_panel.targetspec import NEURAL_MUX, target_topic

log = logging.getLogger(__name__)

MUX_TOPIC = target_topic(NEURAL_MUX)
MUX_GROUP = "neural_mux"
DEAD_LETTER_TARGET = "consumer:neural_mux"
Listener = Callable[[MuxMessage], Any]
DeadLetterSink = Callable[[Event, str, str], Awaitable[None]]  # (event, target, reason)


class MuxSubscription:
    """A bounded queue of messages matching ``pattern``. Iterate it; ``close()`` when done."""

    def __init__(self, mux: NeuralMux, pattern: str, maxsize: int) -> None:
        self.pattern = pattern
        self.dropped = 0
        self._mux = mux
        self._queue: asyncio.Queue[MuxMessage | None] = asyncio.Queue(maxsize)
        self._closed = False

    def offer(self, msg: MuxMessage) -> None:
        if self._closed:
            return
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self.dropped += 1
        self._queue.put_nowait(msg)

    async def get(self, timeout: float | None = None) -> MuxMessage | None:
        """The next message, or None on timeout or when closed."""
        if self._closed and self._queue.empty():
            return None
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._mux._subscriptions.discard(self)
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    async def __aenter__(self) -> MuxSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[MuxMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[MuxMessage]:
        while True:
            msg = await self.get()
            if msg is None:
                return
            yield msg


class NeuralMux(AsyncService):
    """See the module docstring."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        bus: Any = None,
        backend: KpiBackend | str | None = None,
        config: KpiConfig | None = None,
        key_prefix: str = "ctas7:mux",
        consume: bool = True,
        node_id: str = "neural_mux",
        clock: Callable[[], float] = time.time,
        dead_letter: DeadLetterSink | None = None,
    ) -> None:
        s = settings or Settings()
        self.config = config or KpiConfig()
        self.bus = bus
        self.dead_letter = dead_letter
        self.node_id = node_id
        self._clock = clock
        self._consume_enabled = consume
        if backend is None:
            backend = s.bus_url
        if isinstance(backend, str):
            scheme = backend.split("://", 1)[0].lower()
            if scheme in {"redis", "rediss"}:
                backend = RedisKpiBackend(backend, self.config, prefix=key_prefix)
            else:
                backend = MemoryKpiBackend(self.config)
        self.backend: KpiBackend = backend
        self._listeners: list[tuple[str, Listener]] = []
        self._subscriptions: set[MuxSubscription] = set()
        self._topics: set[str] = set()
        self._consumer: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._started = False
        self.stats = {"received": 0, "duplicates": 0, "rejected": 0, "record_retries": 0}

    async def start(self) -> None:
        if self._started:
            return
        await self.backend.start()
        self._stop.clear()
        self._started = True
        if self.bus is not None and self._consume_enabled:
            sub = await self.bus.subscribe(
                MUX_GROUP, topic=MUX_TOPIC, consumer=f"{self.node_id}-consumer"
            )
            self._consumer = asyncio.create_task(self._consume(sub), name="neural-mux-consumer")

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        self._stop.set()
        await cancel_and_wait(self._consumer)
        self._consumer = None
        for sub in list(self._subscriptions):
            sub.close()
        await self.backend.close()

    # --- feeding the mux -----------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        data: Mapping[str, Any],
        *,
        routing_key: str | None = None,
        event_id: str | None = None,
        timestamp: float | None = None,
        source_node: str | None = None,
    ) -> MuxMessage:
        """Put one message on a topic from this process (recorded and fanned out)."""
        now = self._clock()
        msg = MuxMessage(
            topic=check_topic(topic, field="topic"),
            data=dict(data),
            routing_key=routing_key,
            event_id=event_id or new_event_id(now),
            event_type="mux_message",
            timestamp=now if timestamp is None else timestamp,
            source_node=source_node or self.node_id,
        )
        await self.handle_message(msg)
        return msg

    async def handle_event(self, event: Event) -> MuxMessage | None:
        """An event from ``target.neural_mux``; ``EventError`` if its payload is not a message."""
        try:
            msg = message_from_event(event)
        except EventError:
            self.stats["rejected"] += 1
            raise
        return msg if await self.handle_message(msg) else None

    async def handle_message(self, msg: MuxMessage) -> bool:
        """Record KPIs (once per event id) and fan out; False for a duplicate."""
        updates = extract_updates(msg, self._clock())
        if not await self.backend.record(updates):
            self.stats["duplicates"] += 1
            return False
        self.stats["received"] += 1
        self._topics.add(msg.topic)
        await self._fan_out(msg)
        return True

    # --- the /mux_events hook -----------------------------------------------------------------

    def add_listener(self, fn: Listener, pattern: str = "#") -> None:
        self._listeners.append((check_pattern(pattern), fn))

    def remove_listener(self, fn: Listener) -> None:
        self._listeners = [(p, f) for p, f in self._listeners if f is not fn]

    def subscribe(self, pattern: str = "#", *, maxsize: int = 1000) -> MuxSubscription:
        sub = MuxSubscription(self, check_pattern(pattern), maxsize)
        self._subscriptions.add(sub)
        return sub

    @property
    def listeners_count(self) -> int:
        return len(self._listeners) + len(self._subscriptions)

    def topics(self) -> list[str]:
        """Topics seen by this process."""
        return sorted(self._topics)

    # --- KPIs ----------------------------------------------------------------------------------

    async def kpis(self, now: float | None = None) -> dict[str, Any]:
        """Per-topic KPIs (see ``ctas7_panel.mux.metrics.compute_kpis``)."""
        now = self._clock() if now is None else now
        return compute_kpis(await self.backend.state(now), now, self.config)

    async def flat_kpis(self, now: float | None = None) -> dict[str, float]:
        return flat_kpis(await self.kpis(now))

    async def prometheus_text(self, now: float | None = None) -> str:
        """The KPIs in Prometheus text format (serve it next to the bridge's metrics)."""
        now = self._clock() if now is None else now
        return to_prometheus(await self.backend.state(now), now, self.config)

    # --- internals -----------------------------------------------------------------------------

    async def _fan_out(self, msg: MuxMessage) -> None:
        for sub in list(self._subscriptions):
            if topic_matches(sub.pattern, msg.topic):
                sub.offer(msg)
        for pattern, fn in list(self._listeners):
            if not topic_matches(pattern, msg.topic):
                continue
            try:
                out = fn(msg)
                if inspect.isawaitable(out):
                    await out
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("neural mux: listener %r failed on %s", fn, msg.topic)

    async def _consume(self, sub: Any) -> None:
        try:
            while not self._stop.is_set():
                try:
                    messages = await sub.get(64, timeout=0.5)
                except Ctas7Error as exc:  # the bus is away for a moment
                    log.warning("neural mux: reading %s failed: %s", MUX_TOPIC, exc)
                    await asyncio.sleep(0.5)
                    continue
                for m in messages:
                    await self._handle_until_recorded(m.event)
                    with contextlib.suppress(Ctas7Error):
                        await sub.ack(m)
        finally:
            await sub.close()

    async def _handle_until_recorded(self, event: Event) -> None:
        """Record ``event``; wait out a backend outage; reject (dead-letter) a bad event."""
        delays = backoff(0.1, 5.0)
        while True:
            try:
                await self.handle_event(event)
                return
            except asyncio.CancelledError:
                raise
            except EventError as exc:
                await self._reject(event, exc)
                return
            except Ctas7Error as exc:
                if await self._backend_answers():  # the event, not the backend: once more
                    try:
                        await self.handle_event(event)
                        return
                    except Exception as again:
                        await self._reject(event, again)
                        return
                self.stats["record_retries"] += 1
                delay = next(delays)
                log.warning("neural mux: %s; retrying %s in %.1fs", exc, event.event_id, delay)
                await asyncio.sleep(delay)
            except Exception as exc:  # a bug met by one event: contained
                log.exception("neural mux: event %s failed", event.event_id)
                await self._reject(event, exc)
                return

    async def _backend_answers(self) -> bool:
        try:
            await self.backend.state(self._clock())
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        return True

    async def _reject(self, event: Event, exc: BaseException) -> None:
        if not isinstance(exc, EventError):  # handle_event counted those
            self.stats["rejected"] += 1
        reason = f"neural mux cannot take this event: {type(exc).__name__}: {exc}"
        log.error("neural mux: event %s rejected: %s", event.event_id, reason)
        if self.dead_letter is None:
            return
        try:
            await self.dead_letter(event, DEAD_LETTER_TARGET, reason[:2000])
        except asyncio.CancelledError:
            raise
        except Exception as err:  # kept in the log above; never stop the consumer for it
            log.error("neural mux: cannot keep %s as a dead letter: %s", event.event_id, err)
