"""The hub: one per server process, the only reader of the bus for every browser session.

``Hub(bus, store, settings)`` subscribes, in its own per-process group (``dashboard-<host>-
<pid>``), to the raw ``events`` topic and to ``target.legion``, ``target.dashboard`` and
``target.neural_mux``: ``target.dashboard`` is what the bridge delivers to the dashboard (so each
``panel serve`` process sees everything), the raw topic carries the full payloads (schema hash,
diff, test results) that the dashboard transform leaves out, and the other two targets give
the routes each event took and their latency. Everything is folded into one bounded ``Digest``;
sessions read it (see session.py). Nothing here imports Panel.

Tasks (an async service: ``start()`` / ``close()``, or ``async with``):

- one consumer task: a pending ``get`` per subscription, handled as each completes, acked
  after folding (cancel-safe: a cancelled ``get`` takes nothing);
- one ticker: ``Digest.tick`` every ``tick_s`` (latency points, KPI samples), the probes every
  ``probe_s`` (bus, database, each endpoint), the store's dead-letter count every ``dlq_s``,
  the schema snapshot file when the schema hash changed and its tables are unknown.

On start the last ``history`` events of the store are folded first (``live=False``: no latency),
so a fresh page shows the recent past. A bus error is shown in the status bar and retried with
backoff; the hub never stops on bad input: an event it cannot fold is skipped, counted
(``rejected``) and kept as a dead letter (target ``consumer:dashboard``). Its groups are
ephemeral: dropped on close, expired by the bus when the process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ctas7_panel.backoff import backoff
from ctas7_panel.dashboard.digest import Digest
from ctas7_panel.dashboard.probes import Probe
from ctas7_panel.dashboard.records import RAW_TOPIC, TARGET_TOPICS, target_topics
from ctas7_panel.errors import ArtifactError, Ctas7Error
from ctas7_panel.events import Event
from ctas7_panel.lifecycle import AsyncService, cancel_and_wait
from ctas7_panel.schema.artifacts import default_snapshot_path, stat_key
from ctas7_panel.schema.snapshot import column_counts
from ctas7_panel.schema.snapshot_file import read_snapshot_file
from ctas7_panel.settings import Settings
from ctas7_panel.store import EventStore
from ctas7_panel.streams.bus import Bus, Message, Subscription

log = logging.getLogger(__name__)

Replay = Callable[[], Awaitable[int]]
TOPICS = (RAW_TOPIC, *TARGET_TOPICS)  # the built-in targets'; the hub reads every target's
DEAD_LETTER_TARGET = "consumer:dashboard"


def process_group() -> str:
    """This process's consumer group: every dashboard process sees every message."""
    return f"dashboard-{socket.gethostname()}-{os.getpid()}"


class Hub(AsyncService):
    """See the module docstring."""

    def __init__(
        self,
        bus: Bus | None,
        store: EventStore | None,
        settings: Settings,
        *,
        probes: Mapping[str, Probe] | None = None,
        replay: Replay | None = None,
        group: str | None = None,
        topics: Sequence[str] | None = None,
        history: int = 500,
        digest: Digest | None = None,
        batch: int = 512,
        tick_s: float = 1.0,
        probe_s: float = 2.0,
        dlq_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.store = store
        self.settings = settings
        self.probes = dict(probes or {})
        self.replay = replay
        self.group = group or process_group()
        self.topics = tuple(topics) if topics is not None else (RAW_TOPIC, *target_topics())
        self.history = history
        self.clock = clock
        self.digest = digest or Digest(now=clock())
        self.batch = batch
        self.tick_s = tick_s
        self.probe_s = probe_s
        self.dlq_s = dlq_s
        self.consumed = 0
        self.errors = 0
        self.rejected = 0  # events that could not be folded (dead-lettered)
        self._keeping: set[asyncio.Task[None]] = set()
        self.started_at: float | None = None
        self._subs: dict[str, Subscription] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._snapshot_seen: tuple[tuple[int, int, int], str] | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._closed

    async def start(self) -> None:
        """Subscribe, fold the store's recent history, start the consumer and the ticker."""
        if self._tasks:
            return
        self.started_at = self.clock()
        await self._subscribe()
        await self._load_history()
        self._tasks = [
            asyncio.create_task(self._consume(), name="ctas7-dashboard-hub"),
            asyncio.create_task(self._tick(), name="ctas7-dashboard-ticker"),
        ]

    async def close(self) -> None:
        """Stop the tasks and close the subscriptions (unacked messages go back to the group)."""
        self._closed = True
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        for sub in self._subs.values():
            with contextlib.suppress(Ctas7Error):
                await sub.close()
        self._subs = {}
        if self._keeping:
            await asyncio.gather(*self._keeping, return_exceptions=True)

    async def _subscribe(self) -> None:
        if self.bus is None:
            raise Ctas7Error("the dashboard hub has no bus yet: set hub.bus before start()")
        for topic in self.topics:
            if topic in self._subs:
                continue
            try:
                self._subs[topic] = await self.bus.subscribe(
                    self.group, topic=topic, consumer=self.group, ephemeral=True
                )
            except Ctas7Error as exc:
                self.digest.set_status("bus", False, self.clock(), str(exc))
                log.warning("dashboard hub: cannot subscribe to %s: %s", topic, exc)
        if len(self._subs) == len(self.topics):
            self.digest.set_status("bus", True, self.clock(), self._bus_detail())

    def _bus_detail(self) -> str:
        from ctas7_panel.settings import redact_url

        return redact_url(self.settings.bus_url)

    async def _load_history(self) -> None:
        if self.store is not None and self.history > 0:
            try:
                rows = await asyncio.to_thread(self.store.fetch, limit=self.history)
            except Ctas7Error as exc:
                log.warning("dashboard hub: cannot read history: %s", exc)
                rows = []
            now = self.clock()
            for _, event in rows:
                self.digest.observe(RAW_TOPIC, event, now, live=False)
        if self.digest.schema.hash is None:
            await self._read_hash_cache()

    async def _read_hash_cache(self) -> None:
        from ctas7_panel.schema.artifacts import read_hash_cache

        loaded = await asyncio.to_thread(read_hash_cache, self.settings.hash_cache_path)
        if loaded.ok:
            self.digest.set_schema(hash=str(loaded.value), status="cached")

    # --- consuming ----------------------------------------------------------------------------

    async def _consume(self) -> None:
        gets: dict[asyncio.Task[list[Message]], str] = {}
        delays = backoff(0.1, 5.0)
        try:
            while True:
                if len(self._subs) < len(self.topics):
                    await self._subscribe()
                for topic, sub in self._subs.items():
                    if topic not in gets.values():
                        gets[asyncio.create_task(sub.get(self.batch, timeout=1.0))] = topic
                if not gets:
                    await asyncio.sleep(next(delays))
                    continue
                done, _ = await asyncio.wait(gets, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    topic = gets.pop(task)
                    try:
                        messages = task.result()
                    except Ctas7Error as exc:
                        self.errors += 1
                        self.digest.set_status("bus", False, self.clock(), str(exc))
                        log.warning("dashboard hub: reading %s failed: %s", topic, exc)
                        await asyncio.sleep(next(delays))
                        continue
                    delays = backoff(0.1, 5.0)
                    self._handle(topic, messages)
                    if messages:
                        with contextlib.suppress(Ctas7Error):
                            await self._subs[topic].ack(*messages)
        finally:
            for task in gets:
                task.cancel()

    def _handle(self, topic: str, messages: list[Message]) -> None:
        now = self.clock()
        observe = self.digest.observe
        for msg in messages:
            try:
                observe(topic, msg.event, now, live=msg.delivery_count == 1)
            except Exception as exc:  # one event the digest cannot take: skip it, keep it
                self._reject(msg.event, exc)
        self.consumed += len(messages)
        if self.digest.status.components.get("bus", None) is None or not (
            self.digest.status.components["bus"].ok
        ):
            self.digest.set_status("bus", True, now, self._bus_detail())

    def _reject(self, event: Event, exc: BaseException) -> None:
        self.rejected += 1
        reason = f"the dashboard cannot show this event: {type(exc).__name__}: {exc}"[:2000]
        log.error("dashboard hub: skipped %r: %s", event.event_id, reason)
        if self.store is None:
            return
        store = self.store

        async def keep() -> None:
            try:
                await asyncio.to_thread(store.add_dead_letter, event, DEAD_LETTER_TARGET, reason)
            except Ctas7Error as err:
                log.error("dashboard hub: cannot keep %r as a dead letter: %s", event.event_id, err)

        task = asyncio.get_running_loop().create_task(keep())
        self._keeping.add(task)
        task.add_done_callback(self._keeping.discard)

    # --- ticking ------------------------------------------------------------------------------

    async def _tick(self) -> None:
        last_probe = last_dlq = 0.0
        while True:
            now = self.clock()
            self.digest.tick(now)
            if now - last_probe >= self.probe_s:
                last_probe = now
                await self._run_probes()
            if self.store is not None and now - last_dlq >= self.dlq_s:
                last_dlq = now
                await self._count_dead_letters()
            await self._maybe_read_snapshot()
            await asyncio.sleep(self.tick_s)

    async def _run_probes(self) -> None:
        if not self.probes:
            return
        names = list(self.probes)
        results = await asyncio.gather(*(self.probes[n]() for n in names), return_exceptions=True)
        now = self.clock()
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                self.digest.set_status(name, False, now, f"check failed: {result}")
            else:
                ok, detail = result
                self.digest.set_status(name, ok, now, detail)

    async def _count_dead_letters(self) -> None:
        assert self.store is not None
        try:
            letters = await asyncio.to_thread(self.store.dead_letters)
        except Ctas7Error as exc:
            log.warning("dashboard hub: cannot count dead letters: %s", exc)
            return
        self.digest.set_dead_letters(len(letters), self.clock())

    async def _maybe_read_snapshot(self) -> None:
        """Tables and column counts from the sync node's snapshot file, when the schema changed.

        Read when the current hash's tables are unknown (the ``schema_updated`` payload does not
        carry them) and the file changed since the last look; a record made for another
        fingerprint is left alone until the file changes again.
        """
        schema = self.digest.schema
        if not schema.hash or schema.tables_hash == schema.hash:
            return
        path = default_snapshot_path(self.settings.hash_cache_path)
        key = await asyncio.to_thread(stat_key, path)
        if key is None or self._snapshot_seen == (key, schema.hash):
            return
        self._snapshot_seen = (key, schema.hash)
        try:
            loaded = await asyncio.to_thread(read_snapshot_file, path)
        except ArtifactError as exc:
            log.warning("dashboard hub: %s", exc)
            return
        if loaded.fingerprint != schema.hash:
            return
        changes: dict[str, Any] = {
            "tables": column_counts(loaded.snapshot),
            "tables_hash": schema.hash,
        }
        count = loaded.snapshot.get("table_count")
        if schema.table_count is None and isinstance(count, int):
            changes["table_count"] = count
        self.digest.set_schema(**changes)

    # --- actions ------------------------------------------------------------------------------

    async def replay_dead_letters(self) -> str:
        """Re-deliver every unreplayed dead letter; a one-line outcome for the bridge panel."""
        if self.replay is None:
            return "replay is not available in this process: run `ctas7 dlq replay`"
        try:
            n = await self.replay()
        except Ctas7Error as exc:
            return f"replay failed: {exc}"
        if self.store is not None:
            await self._count_dead_letters()
        return f"replayed {n} dead letter{'s' if n != 1 else ''}"

    def stats(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "consumed": self.consumed,
            "errors": self.errors,
            "rejected": self.rejected,
            "events_held": len(self.digest.events),
            "seen": self.digest.seen,
        }
