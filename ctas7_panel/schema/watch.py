"""``SchemaSyncNode.watch()``: LISTEN + poll, debounce, one leader per database, reconnect.

How a watcher runs, per database connection (the *listen connection*):

1. ``pg_try_advisory_lock(LOCK_KEY)``: one watcher per database syncs; the others stand by
   (state ``standby``) and retry every poll interval, so one of them takes over within one poll
   interval after the leader's session ends (its process died, or its connection dropped).
2. The leader LISTENs on ``ctas7_schema`` (the event trigger of ``ctas7 schema install-trigger``)
   and ``pgrst`` (which Supabase notifies on DDL), *then* runs a full pass: nothing that happens
   between connecting and listening is missed. That first pass always emits its event
   (``schema_updated`` or ``schema_nochange``); later passes emit only when something changed.
3. Notifications are debounced (``Debouncer``): a sync starts once the channel has been quiet for
   ``debounce`` seconds, or ``debounce_max`` after the first notification of a burst; so a
   migration of 50 DDL statements gives one ``schema_updated``. Every ``poll_interval`` a pass
   runs anyway (NOTIFY is lost while no one listens, and not every database has the trigger).
4. Losing the database (at connect, LISTEN, or in a pass) emits one ``schema_error``
   (``stage: connect``, ``retry_in_s``) per outage and reconnects with ``backoff()`` delays; the
   first pass after the outage emits its event, which says the watcher is back.
5. A pass that fails for another reason (generator, disk) emits ``schema_error`` once per
   distinct error and is retried with backoff.
6. While leading, watchfiles watches the artifacts' directories: a types file, hash cache or
   snapshot edited or deleted by hand is restored from the last pass and reported
   (``schema_artifact_modified``).

Role changes are reported as ``schema_watcher`` events (``state``: active, standby, stopped).
``Watcher.run(stop)`` returns when ``stop`` is set; it is cancel-safe (a cancelled run closes its
connection, stops the artifact watcher and re-raises ``CancelledError``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import psycopg

from ctas7_panel import pgtools
from ctas7_panel.backoff import backoff
from ctas7_panel.errors import DatabaseError
from ctas7_panel.events import Event
from ctas7_panel.schema.decision import Failure
from ctas7_panel.schema.sync_config import SyncConfig
from ctas7_panel.schema.trigger import CHANNEL, PGRST_CHANNEL
from ctas7_panel.settings import redact_url

log = logging.getLogger(__name__)

LOCK_KEY = 0x6374617337_5359  # "ctas7" "SY": one schema watcher per database
NOTIFY_SLICE = 0.25  # longest wait on the socket before looking at the stop event, s


# --- pure parts ------------------------------------------------------------------------------


class Debouncer:
    """When to sync after notifications: ``quiet`` s after the last, ``max_wait`` after the first.

    Pure: the caller passes the time. ``deadline()`` is None while nothing is pending.
    """

    def __init__(self, quiet: float, max_wait: float) -> None:
        self.quiet = quiet
        self.max_wait = max(quiet, max_wait)
        self._first: float | None = None
        self._last: float | None = None

    def note(self, now: float) -> None:
        if self._first is None:
            self._first = now
        self._last = now

    @property
    def pending(self) -> bool:
        return self._first is not None

    def deadline(self) -> float | None:
        if self._first is None or self._last is None:
            return None
        return min(self._last + self.quiet, self._first + self.max_wait)

    def due(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def reset(self) -> None:
        self._first = self._last = None


# --- the I/O shell ---------------------------------------------------------------------------


class SyncNode(Protocol):
    """What a watcher needs of its node (``SchemaSyncNode``; this module does not import it,
    so ``schema.sync`` -> ``schema.watch`` is the only direction)."""

    config: SyncConfig
    expected: dict[Path, bytes]  # the artifacts as the last pass wrote them
    lock: asyncio.Lock  # held around every pass and artifact restore

    async def run_pass(self, trigger: str) -> Event | Failure: ...

    async def emit(self, event: Event) -> None: ...

    def failure_event(self, failure: Failure, retry_in_s: float | None) -> Event: ...

    def restore_artifacts_blocking(self) -> list[Event]: ...


class _ConnectionLost(Exception):
    """Internal: the listen connection or a pass lost the database (never escapes ``run``)."""


class Watcher:
    """One watcher of one database for one ``SchemaSyncNode``."""

    def __init__(self, node: SyncNode, *, lock_key: int = LOCK_KEY) -> None:
        self.node = node
        self.config = node.config
        self.lock_key = lock_key
        self.watcher_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.state = "starting"
        self._last_error: str | None = None
        self._in_outage = False
        self._reconnect_delays = self._new_backoff()
        self._retry_delays = self._new_backoff()
        self._artifact_stop: asyncio.Event | None = None
        self._artifact_task: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        try:
            while not stop.is_set():
                conn: psycopg.AsyncConnection[Any] | None = None
                try:
                    conn = await self._connect()
                    await self._session(conn, stop)
                except (_ConnectionLost, DatabaseError, psycopg.OperationalError, OSError) as exc:
                    await self._stop_artifacts()
                    delay = next(self._reconnect_delays)
                    reason = _reason(exc, cfg.db_url)
                    if not self._in_outage:
                        self._in_outage = True
                        self.state = "disconnected"
                        await self.node.emit(
                            self.node.failure_event(
                                Failure("connect", reason, connection=True), delay
                            )
                        )
                    else:
                        log.info("database still unreachable (%s); retry in %.1f s", reason, delay)
                    await _sleep(stop, delay)
                finally:
                    await self._stop_artifacts()
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
        finally:
            await self._stop_artifacts()
            if self.state in {"active", "standby"}:
                await self._set_state("stopped")

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        pgtools.check_url(self.config.db_url)
        try:
            return await psycopg.AsyncConnection.connect(
                self.config.db_url, autocommit=True, connect_timeout=5
            )
        except psycopg.Error as exc:
            raise DatabaseError(_reason(exc, self.config.db_url)) from exc

    async def _try_lock(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_key,))
        row = await cur.fetchone()
        return bool(row and row[0])

    def _connected(self) -> None:
        """The database answers again: the next loss is a new outage."""
        self._in_outage = False
        self._reconnect_delays = self._new_backoff()

    def _new_backoff(self) -> Iterator[float]:
        return backoff(self.config.retry_initial, self.config.retry_max, jitter=0.1)

    async def _session(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        """Lead (or stand by, then lead) on one connection until ``stop`` is set."""
        cfg = self.config
        locked = await self._try_lock(conn)
        self._connected()
        if not locked:
            await self._set_state("standby")
            while True:
                await _sleep(stop, cfg.poll_interval)
                if stop.is_set():
                    return
                if await self._try_lock(conn):
                    break
        await conn.execute(f"LISTEN {CHANNEL}")
        await conn.execute(f"LISTEN {PGRST_CHANNEL}")
        await self._set_state("active")

        self._retry_delays = self._new_backoff()
        retry_at: float | None = None
        delay = await self._pass("connect", always_emit=True)
        if delay is not None:
            retry_at = time.monotonic() + delay
        debouncer = Debouncer(cfg.debounce, cfg.debounce_max)
        next_poll = time.monotonic() + cfg.poll_interval
        while not stop.is_set():
            now = time.monotonic()
            wake = next_poll
            notify_at = debouncer.deadline()
            if notify_at is not None:
                wake = min(wake, notify_at)
            if retry_at is not None:
                wake = min(wake, retry_at)
            wait = min(max(0.0, wake - now), NOTIFY_SLICE)
            if wait > 0:
                async for _ in conn.notifies(timeout=wait, stop_after=1):
                    debouncer.note(time.monotonic())
            now = time.monotonic()
            if debouncer.due(now):
                trigger = "notify"
                debouncer.reset()
            elif retry_at is not None and now >= retry_at:
                trigger = "retry"
            elif now >= next_poll:
                trigger = "poll"
                await conn.execute("SELECT 1")  # the listen connection is alive too
            else:
                continue
            next_poll = now + cfg.poll_interval
            delay = await self._pass(trigger, always_emit=False)
            retry_at = None if delay is None else time.monotonic() + delay

    async def _pass(self, trigger: str, *, always_emit: bool) -> float | None:
        """Run a pass and emit what it found. None on success, else the delay before a retry."""
        result = await self.node.run_pass(trigger)
        if isinstance(result, Event):
            was_failing = self._last_error is not None
            self._last_error = None
            self._retry_delays = self._new_backoff()
            if always_emit or was_failing or result.event_type != "schema_nochange":
                await self.node.emit(result)
            self._start_artifacts()
            return None
        if result.connection:
            raise _ConnectionLost(result.error)
        delay = next(self._retry_delays)
        if result.error != self._last_error:
            self._last_error = result.error
            await self.node.emit(self.node.failure_event(result, delay))
        else:
            log.info("schema sync still failing (%s): %s", result.stage, result.error)
        return delay

    async def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        log.info("schema watcher %s is %s", self.watcher_id, state)
        await self.node.emit(
            Event.create(
                "schema_watcher",
                {
                    "state": state,
                    "watcher_id": self.watcher_id,
                    "database": pgtools.database_name(self.config.db_url),
                    "poll_interval": self.config.poll_interval,
                },
                source_node=self.config.source_node,
            )
        )

    # -- artifacts

    def _start_artifacts(self) -> None:
        if not self.config.watch_artifacts or self._artifact_task is not None:
            return
        if not self.node.expected:
            return
        self._artifact_stop = asyncio.Event()
        self._artifact_task = asyncio.create_task(
            self._watch_artifacts(self._artifact_stop), name="ctas7-schema-artifacts"
        )

    async def _stop_artifacts(self) -> None:
        task, stop = self._artifact_task, self._artifact_stop
        self._artifact_task = self._artifact_stop = None
        if task is None or stop is None:
            return
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=2)
        except TimeoutError:
            log.warning("artifact watcher did not stop within 2 s")

    async def _watch_artifacts(self, stop: asyncio.Event) -> None:
        import watchfiles

        targets = set(self.node.expected)
        dirs = sorted({p.parent for p in targets})
        names = {str(p) for p in targets}

        def only_artifacts(_change: watchfiles.Change, path: str) -> bool:
            return path in names

        while not stop.is_set():
            try:
                async for _changes in watchfiles.awatch(
                    *dirs,
                    watch_filter=only_artifacts,
                    stop_event=stop,
                    recursive=False,
                    debounce=400,
                    step=30,
                ):
                    await self._restore()
            except (OSError, RuntimeError) as exc:  # a watched directory vanished, ...
                log.warning("cannot watch %s: %s", ", ".join(map(str, dirs)), exc)
                await self._restore()  # rewriting a file recreates its directory
                await _sleep(stop, self.config.poll_interval)

    async def _restore(self) -> None:
        async with self.node.lock:
            events = await asyncio.to_thread(self.node.restore_artifacts_blocking)
        for event in events:
            await self.node.emit(event)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep up to ``seconds``, waking early when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))


def _reason(exc: BaseException, url: str) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    shown = redact_url(url)
    return first if shown in first else f"{shown}: {first}"
