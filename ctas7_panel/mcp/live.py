"""Live: tell subscribed MCP clients the moment the schema or the telemetry moves.

What moves, and which ``ctas7://`` resources it touches, is pure (``schema_uris``,
``Throttle``). How the news arrives depends on where the server runs:

- inside ``ctas7 serve``: the runtime's bus (``BusFollower``, one consumer group of its own);
- standalone ``ctas7 mcp`` with ``CTAS7_BUS_URL=redis://...``: the same, on the Redis bus;
- standalone with the memory bus: ``SchemaWatcher`` LISTENs on the database itself (the DDL
  trigger's ``ctas7_schema`` channel and Supabase's ``pgrst``), and polls the catalog probe every
  ``CTAS7_POLL_INTERVAL`` seconds where no trigger notifies;
- always: ``StoreFollower`` watches the event store's newest sequence number (woken by the bus
  when there is one, else every second), so ``telemetry/events`` subscribers hear of new rows
  only once they can be read.

``Notifier`` delivers to both kinds of subscriber: streams opened with the 2026 protocol's
``subscriptions/listen`` (through the SDK's subscription bus) and clients of earlier versions
that sent ``resources/subscribe`` (``notifications/resources/updated`` on their session).
Notifications of one URI are coalesced to at most one per ``min_interval`` (the last one is
never lost: a trailing notification follows a burst).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ctas7_panel.errors import Ctas7Error
from ctas7_panel.events import Event
from ctas7_panel.lifecycle import cancel_and_wait
from ctas7_panel.schema.languages import LANGUAGES

if TYPE_CHECKING:
    from ctas7_panel.mcp.sources import SchemaSource, Telemetry
    from ctas7_panel.streams.bus import Bus

log = logging.getLogger(__name__)

SCHEME = "ctas7://"
STATUS = f"{SCHEME}schema/status"
TABLES = f"{SCHEME}schema/tables"
VERSIONS = f"{SCHEME}schema/versions"
TYPES = f"{SCHEME}schema/types/"
TELEMETRY_STATUS = f"{SCHEME}telemetry/status"
TELEMETRY_EVENTS = f"{SCHEME}telemetry/events"
LANGS: tuple[str, ...] = LANGUAGES  # the generator's languages (ctas7 schema typegen --lang)
SCHEMA_EVENTS = frozenset({"schema_updated"})
_RELATION_KINDS = {"table", "view", "column"}


# --- pure -----------------------------------------------------------------------------------


def schema_uris(changed: Iterable[Mapping[str, Any]] = ()) -> list[str]:
    """The resources a schema change touches: status, tables, versions, every types file and
    the ``schema/tables/{schema}/{name}`` of each relation named in the diff ``changed``."""
    return [*GENERAL_URIS, *table_uris(changed)]


GENERAL_URIS: tuple[str, ...] = (
    STATUS,
    TABLES,
    VERSIONS,
    *(TYPES + lang for lang in LANGS),
    TELEMETRY_STATUS,
)
TABLE_PREFIX = f"{SCHEME}schema/tables/"


def table_uris(changed: Iterable[Mapping[str, Any]]) -> list[str]:
    """``ctas7://schema/tables/{schema}/{name}`` of each relation a diff entry names."""
    uris: list[str] = []
    for entry in changed:
        if entry.get("kind") not in _RELATION_KINDS:
            continue
        parts = str(entry.get("name", "")).split(".")
        if len(parts) >= 2:
            uri = f"{TABLE_PREFIX}{parts[0]}/{parts[1]}"
            if uri not in uris:
                uris.append(uri)
    return uris


def changed_entries(event: Event) -> list[Mapping[str, Any]]:
    """The diff entries a ``schema_updated`` event carries (none when it was too big to keep)."""
    changes = event.payload.get("changes")
    if isinstance(changes, Mapping) and isinstance(changes.get("entries"), list):
        return [e for e in changes["entries"] if isinstance(e, Mapping)]
    return []


class Throttle:
    """At most one notification per URI per ``interval`` seconds; a held one is sent later.

    Pure: the caller passes the time. ``offer(uri, now)`` says whether to send now; otherwise the
    URI is held and ``due(now)`` returns it once its interval has passed.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: set[str] = set()

    def offer(self, uri: str, now: float) -> bool:
        last = self._last.get(uri)
        if last is None or now - last >= self.interval:
            self._last[uri] = now
            self._held.discard(uri)
            return True
        self._held.add(uri)
        return False

    def due(self, now: float) -> list[str]:
        ready = sorted(u for u in self._held if now - self._last.get(u, 0.0) >= self.interval)
        for uri in ready:
            self._held.discard(uri)
            self._last[uri] = now
        return ready

    def next_due(self) -> float | None:
        if not self._held:
            return None
        return min(self._last[u] for u in self._held) + self.interval


# --- subscribers ----------------------------------------------------------------------------


class CountingBus:
    """The SDK's subscription bus (``subscriptions/listen`` fan-out) that also counts streams."""

    def __init__(self) -> None:
        self._listeners: dict[object, Callable[[Any], None]] = {}

    @property
    def count(self) -> int:
        return len(self._listeners)

    async def publish(self, event: Any) -> None:
        for listener in list(self._listeners.values()):
            try:
                listener(event)
            except Exception:  # one bad stream must not starve the others
                log.exception("mcp: a listen stream failed to take an event")
        await asyncio.sleep(0)

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe


class LegacySubscriptions:
    """``resources/subscribe`` of clients on protocol versions before 2026-07-28.

    A client is keyed by its connection (``key``); ``session`` is what sends to it.
    """

    def __init__(self) -> None:
        self._by_uri: dict[str, dict[int, Any]] = {}

    def add(self, uri: str, key: object, session: Any) -> None:
        self._by_uri.setdefault(uri, {})[id(key)] = session

    def remove(self, uri: str, key: object) -> None:
        subs = self._by_uri.get(uri)
        if subs is not None:
            subs.pop(id(key), None)
            if not subs:
                del self._by_uri[uri]

    def sessions(self, uri: str) -> list[tuple[int, Any]]:
        return list(self._by_uri.get(uri, {}).items())

    def uris(self, prefix: str = "") -> list[str]:
        return [u for u in self._by_uri if u.startswith(prefix)]

    @property
    def count(self) -> int:
        return len({key for subs in self._by_uri.values() for key in subs})

    def drop(self, key_id: int) -> None:
        for uri in list(self._by_uri):
            subs = self._by_uri[uri]
            subs.pop(key_id, None)
            if not subs:
                del self._by_uri[uri]


class Notifier:
    """Sends ``resources/updated`` for URIs to listen streams and legacy subscribers."""

    def __init__(
        self,
        bus: CountingBus,
        legacy: LegacySubscriptions,
        *,
        min_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.legacy = legacy
        self.throttle = Throttle(min_interval)
        self.clock = clock
        self.sent = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listeners(self) -> int:
        return self.bus.count + self.legacy.count

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._trailing(), name="ctas7-mcp-notify")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def notify(self, uris: Iterable[str]) -> None:
        now = self.clock()
        for uri in dict.fromkeys(uris):
            if self.throttle.offer(uri, now):
                await self._send(uri)
        self._wake.set()

    async def _send(self, uri: str) -> None:
        from mcp.server.subscriptions import ResourceUpdated

        self.sent += 1
        await self.bus.publish(ResourceUpdated(uri=uri))
        for key_id, session in self.legacy.sessions(uri):
            try:
                await session.send_resource_updated(uri)
            except Exception as exc:  # the client went away: forget it
                log.info("mcp: dropping a subscriber of %s: %s", uri, exc)
                self.legacy.drop(key_id)

    async def _trailing(self) -> None:
        while True:
            at = self.throttle.next_due()
            timeout = None if at is None else max(0.0, at - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            for uri in self.throttle.due(self.clock()):
                await self._send(uri)


# --- what moves -----------------------------------------------------------------------------


class Live:
    """Turns news (events, a changed fingerprint, new store rows) into notifications."""

    def __init__(self, notifier: Notifier, source: SchemaSource | None) -> None:
        self.notifier = notifier
        self.source = source
        self.watching = False  # is a change feed (watcher or bus) connected now?
        self.feed = "none"
        self.store_follower: StoreFollower | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def set_watching(self, connected: bool) -> None:
        """A change feed connected or lost (any thread: one attribute write)."""
        self.watching = connected

    async def schema_changed(
        self, changed: Sequence[Mapping[str, Any]] = (), *, general: bool = True
    ) -> None:
        """Notify the schema's resources (``general``: status, tables, types...) and the tables
        named in ``changed``, plus every ``ctas7://schema/...`` a legacy client subscribed to."""
        if self.source is not None:
            self.source.invalidate()
        uris: list[str] = []
        if general:
            uris += GENERAL_URIS
            legacy = self.notifier.legacy.uris(f"{SCHEME}schema/")
            uris += [u for u in legacy if not u.startswith(TABLE_PREFIX)]  # diffs, pages
        uris += table_uris(changed)
        await self.notifier.notify(uris)

    def deliver(self, event: Event) -> None:
        """``on_event`` from synchronous code on this loop (a bus follower's callback)."""
        task = asyncio.get_running_loop().create_task(self.on_event(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def on_event(self, event: Event) -> None:
        """An event passed the bus (or the store)."""
        if event.event_type in SCHEMA_EVENTS:
            await self.schema_changed(changed_entries(event))
        if self.store_follower is not None:
            self.store_follower.poke()


class StoreFollower:
    """Notifies ``telemetry/events`` (and ``telemetry/status``) when the store has new rows."""

    def __init__(self, live: Live, telemetry: Telemetry, *, interval: float = 1.0) -> None:
        self.live = live
        self.telemetry = telemetry
        self.interval = interval
        self.seq: int | None = None
        self._poke = asyncio.Event()

    def poke(self) -> None:
        self._poke.set()

    async def prime(self) -> None:
        """Read where the store is now (before clients connect: nothing is missed after)."""
        self.live.store_follower = self
        try:
            self.seq = await asyncio.to_thread(self.telemetry.newest_seq)
        except Ctas7Error as exc:
            log.warning("mcp: cannot read the event store: %s", exc)

    async def run(self, stop: asyncio.Event) -> None:
        self.live.store_follower = self
        retry_after_poke = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.interval)
            poked = self._poke.is_set()
            self._poke.clear()
            try:
                newest = await asyncio.to_thread(self.telemetry.newest_seq)
            except Ctas7Error as exc:
                log.warning("mcp: cannot read the event store: %s", exc)
                continue
            if self.seq is None:
                self.seq = newest
                continue
            if newest > self.seq:
                schema = await asyncio.to_thread(self._schema_rows, self.seq)
                self.seq = newest
                retry_after_poke = 0
                for event in schema:
                    await self.live.schema_changed(changed_entries(event))
                await self.live.notifier.notify([TELEMETRY_EVENTS, TELEMETRY_STATUS])
            elif poked and retry_after_poke < 5:
                # the bus was faster than the store's writer: look again shortly
                retry_after_poke += 1
                await asyncio.sleep(0.1)
                self._poke.set()

    def _schema_rows(self, after: int) -> list[Event]:
        rows = self.telemetry.store.fetch(types=sorted(SCHEMA_EVENTS), after_seq=after)
        return [event for _, event in rows]


_group_seq = itertools.count(1)


class BusFollower:
    """Reads every event on the bus in a consumer group of its own and hands it to ``deliver``.

    ``deliver`` is called on the bus's loop; inside ``ctas7 serve`` it hops to the MCP server's
    loop (``loop.call_soon_threadsafe``). ``on_status(connected)`` hears when reading starts and
    stops working (``Live.watching``: ``is_watching`` is true only once the consumer group
    exists, so nothing published after that is missed).
    """

    def __init__(
        self,
        bus: Bus,
        deliver: Callable[[Event], None],
        *,
        topic: str = "events",
        on_status: Callable[[bool], None] | None = None,
    ):
        self.bus = bus
        self.deliver = deliver
        self.topic = topic
        self.group = f"mcp.{socket.gethostname()}.{os.getpid()}.{next(_group_seq)}"
        self.on_status = on_status
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    @connected.setter
    def connected(self, value: bool) -> None:
        if value != self._connected:
            self._connected = value
            if self.on_status is not None:
                self.on_status(value)

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self.bus.subscribe(self.group, topic=self.topic, start="new")
        self.connected = True
        try:
            while not stop.is_set():
                try:
                    messages = await sub.get(100, timeout=0.25)
                except Ctas7Error as exc:
                    self.connected = False
                    log.warning("mcp: reading the bus failed: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                self.connected = True
                for msg in messages:
                    self.deliver(msg.event)
                if messages:
                    await sub.ack(*messages)
        finally:
            self.connected = False
            with contextlib.suppress(Exception):
                await sub.close()
            with contextlib.suppress(Exception):
                await self.bus.drop_group(self.group, topic=self.topic)


class SchemaWatcher:
    """Standalone: LISTEN for DDL on the database, poll the probe, notify on a new fingerprint."""

    def __init__(
        self,
        live: Live,
        source: SchemaSource,
        *,
        poll_interval: float = 5.0,
        debounce: float = 0.05,
    ) -> None:
        self.live = live
        self.source = source
        self.poll_interval = poll_interval
        self.debounce = debounce
        self.fingerprint: str | None = None
        self._snapshot: dict[str, Any] | None = None
        self._probe: str | None = None
        self._checking: asyncio.Task[None] | None = None
        self._again = False

    async def run(self, stop: asyncio.Event) -> None:
        from ctas7_panel.schema.watch import backoff

        delays = backoff(0.5, 30.0, jitter=0.1)
        while not stop.is_set():
            try:
                await self._session(stop)
                delays = backoff(0.5, 30.0, jitter=0.1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.live.watching = False
                delay = next(delays)
                log.warning("mcp: schema watch lost the database (%s); retry in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        self.live.watching = False

    async def _session(self, stop: asyncio.Event) -> None:
        import psycopg

        from ctas7_panel.schema.trigger import CHANNEL, PGRST_CHANNEL
        from ctas7_panel.schema.watch import Debouncer

        conn = await psycopg.AsyncConnection.connect(
            self.source.db_url, autocommit=True, connect_timeout=5
        )
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            await conn.execute(f"LISTEN {PGRST_CHANNEL}")
            self.live.watching = True
            self._probe = await _probe(conn)
            await self._check()
            debouncer = Debouncer(self.debounce, 1.0)
            next_poll = time.monotonic() + self.poll_interval
            while not stop.is_set():
                now = time.monotonic()
                wake = min(next_poll, debouncer.deadline() or next_poll)
                wait = min(max(0.0, wake - now), 0.25)
                if wait > 0:
                    async for _ in conn.notifies(timeout=wait, stop_after=1):
                        debouncer.note(time.monotonic())
                now = time.monotonic()
                if debouncer.due(now):
                    debouncer.reset()
                elif now >= next_poll:
                    await conn.execute("SELECT 1")
                else:
                    continue
                next_poll = now + self.poll_interval
                probe = await _probe(conn)
                if probe == self._probe:
                    continue
                self._probe = probe
                # the catalog changed: say so at once, then work out what changed (in the
                # background: the next NOTIFY must not wait for this introspection)
                await self.live.schema_changed()
                self._request_check()
        finally:
            if self._checking is not None:
                self._checking.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._checking
                self._checking = None
            self.live.watching = False
            with contextlib.suppress(Exception):
                await conn.close()

    def _request_check(self) -> None:
        """One ``_check`` at a time; a request during one runs another after it."""
        if self._checking is not None and not self._checking.done():
            self._again = True
            return

        async def run() -> None:
            while True:
                self._again = False
                try:
                    await self._check()
                except Ctas7Error as exc:
                    log.warning("mcp: cannot read the changed schema: %s", exc)
                if not self._again:
                    return

        self._checking = asyncio.create_task(run(), name="ctas7-mcp-schema-check")

    async def _check(self) -> None:
        state = await asyncio.to_thread(self.source.current)
        if self.fingerprint is None:
            self.fingerprint, self._snapshot = state.fingerprint, state.snapshot
            return
        if state.fingerprint == self.fingerprint:
            return
        from ctas7_panel.schema.diff import diff_snapshots

        old = self._snapshot or {}
        entries = [e.to_dict() for e in diff_snapshots(old, state.snapshot).entries]
        self.fingerprint, self._snapshot = state.fingerprint, state.snapshot
        # the general resources were notified already; now the tables the diff names
        await self.live.schema_changed(entries, general=False)


async def _probe(conn: Any) -> str:
    """The catalog probe (``schema/sql/catalog_probe.sql``) on the watcher's own connection."""
    from ctas7_panel.schema.decision import catalog_probe_sql

    cur = await conn.execute(catalog_probe_sql())
    row = await cur.fetchone()
    return "" if row is None else str(row[0])


__all__ = [
    "LANGS",
    "BusFollower",
    "CountingBus",
    "LegacySubscriptions",
    "Live",
    "Notifier",
    "SchemaWatcher",
    "StoreFollower",
    "Throttle",
    "changed_entries",
    "schema_uris",
]
