"""``StoreWriter``: writes the event history from asyncio code, and never stops.

Usage::

    writer = StoreWriter(store)
    await writer.start()
    stored = await writer.write(events)      # waits only while too much is unwritten
    stored.add_done_callback(...)            # done once every event is in the history
    await writer.dead_letter(event, "legion", "gave up after 20 attempts", attempts=20)
    await writer.close(timeout=10)

What it promises:

- **Durable before done.** The future ``write`` returns is done when each of its events is
  committed in the history (or, for an event the store cannot take, kept as a dead letter):
  only then may its bus message be acknowledged. It is cancelled, never failed, when the writer
  is closed first (``close(timeout)``): the caller then leaves the message unacknowledged and the
  bus delivers it again.
- **Group commit.** Whatever was queued while a write ran goes into the next one (up to
  ``batch`` events). ``linger`` (seconds, default 0) makes a write after a quiet spell wait for
  more; measured with ``benchmarks/bridge.py`` at load 1 (2 cores), a 20 ms linger gave the
  same throughput and a worse p99 publish -> target at 10,000 events/s (1.5-1.8 ms against
  0.9-1.0 ms without): the bigger lingered batch holds the interpreter longer when it is
  encoded. Only the acknowledgement waits for a commit, never a delivery.
- **Back-pressure, never a drop.** At most ``max_pending`` events wait unwritten; ``write`` waits
  for room beyond that, so a consumer stops reading and the bus keeps the rest.
- **Outages are waited out.** A failed write is told apart from a bad event by a write that
  touches no row (``EventStore.check_writable``): when that fails too, the store is down; the
  same events are tried again after a backoff (``RetryPolicy.delay``, without giving up). One
  log line when the outage starts, one when it ends; ``health`` (``StoreHealth``) carries
  ``up``, ``errors_total`` and the rest for ``/metrics``, ``/healthz`` and the dashboard.
- **One bad event stays one.** When the store is writable but refuses a batch, the batch is
  split in halves until the events it refuses are found (``isolate``, pure); those are kept
  as dead letters (target ``store``, with the reason) and everything else is written.
- **It cannot die.** Any exception, expected or not, is logged and handled like an outage.

Dead letters of the bridge's targets go through the same queue (``dead_letter``), so they too
wait out an outage instead of being lost. ``close(timeout)`` writes what it can within
``timeout`` seconds; a write in flight is waited for, not abandoned (its thread would go on).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ctas7_panel.backoff import RetryPolicy
from ctas7_panel.errors import StoreError, StoreUnavailable
from ctas7_panel.events import Event
from ctas7_panel.lifecycle import cancel_and_wait
from ctas7_panel.store import EventStore, Row, encode

log = logging.getLogger(__name__)

STORE_TARGET = "store"  # the dead-letter target of events the history cannot hold
DEFAULT_RETRY = RetryPolicy(base=0.1, max_delay=2.0)
R = TypeVar("R")


@dataclass
class StoreHealth:
    """The store as its writer sees it; read by ``/healthz``, ``/metrics`` and the dashboard."""

    up: bool = True
    since: float = field(default_factory=time.time)  # when ``up`` last changed
    errors_total: int = 0  # failed write attempts
    dead_lettered: int = 0  # events the store could not take, kept as dead letters
    written: int = 0  # events newly written
    pending: int = 0  # events waiting to be written
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "up": self.up,
            "since": self.since,
            "errors_total": self.errors_total,
            "dead_lettered": self.dead_lettered,
            "written": self.written,
            "pending": self.pending,
            "last_error": self.last_error,
        }


def isolate(
    rows: Sequence[R],
    write: Callable[[Sequence[R]], int],
    check: Callable[[], None],
    refuse: Callable[[R, str], None],
) -> int:
    """Write ``rows``; hand each row the store refuses to ``refuse(row, why)``; return how many
    rows were new.

    ``write`` is all or nothing and raises ``StoreError``; ``StoreUnavailable`` (a lock, a full
    disk, a lost connection) is an outage at once. ``check`` raises ``StoreError`` when the store
    cannot take writes at all. After another failed write, ``check`` decides: it fails too
    (an outage: its ``StoreError`` propagates, the caller retries later; rows written by then
    are written, re-writing them is harmless) or it passes (some rows are refused: split in
    halves until they are found; a single row is tried once more before it counts as refused).
    ``refuse`` may raise ``StoreError`` too (it could not keep the row either: a full disk
    refuses everything while the no-row check passes), which ends the search as an outage.
    """
    try:
        return write(rows)
    except StoreUnavailable:  # no row is to blame: an outage
        raise
    except StoreError:
        pass
    check()
    if len(rows) == 1:
        try:
            return write(rows)
        except StoreError as exc:
            refuse(rows[0], str(exc))
            return 0
    mid = len(rows) // 2
    return isolate(rows[:mid], write, check, refuse) + isolate(rows[mid:], write, check, refuse)


@dataclass(eq=False, slots=True)
class _Item:
    """One ``write`` (events) or one ``dead_letter`` (letter), and its future."""

    done: asyncio.Future[None]
    events: Sequence[Event] = ()
    letter: tuple[Event, str, str, int, float | None] | None = None

    @property
    def size(self) -> int:
        return len(self.events) if self.letter is None else 1


class StoreWriter:
    """See the module docstring. An async service: ``start()`` / ``close()``."""

    def __init__(
        self,
        store: EventStore,
        *,
        batch: int = 2000,
        linger: float = 0.0,
        max_pending: int = 20_000,
        retry: RetryPolicy = DEFAULT_RETRY,
        check_timeout: float = 1.0,
        health: StoreHealth | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.batch = batch
        self.linger = linger
        self.max_pending = max_pending
        self.retry = retry
        self.check_timeout = check_timeout
        self.health = health or StoreHealth()
        self._rng = rng or random.Random()
        self._queue: deque[_Item] = deque()
        self._pending = 0
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._failures = 0  # consecutive failed attempts (0 while up)
        self._in_flight: list[asyncio.Future[None]] = []  # of the write being made

    @property
    def written(self) -> int:
        return self.health.written

    @property
    def pending(self) -> int:
        """Events (and dead letters) queued or being written."""
        return self._pending

    async def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="ctas7-store-writer")

    async def write(self, events: Sequence[Event]) -> asyncio.Future[None]:
        """Queue ``events``; the returned future is done once all of them are durable.

        Waits (back-pressure) while ``max_pending`` events are unwritten. Cancel-safe: a
        cancelled call has queued nothing.
        """
        return await self._put(_Item(self._future(), events=events))

    async def dead_letter(
        self,
        event: Event,
        target: str,
        reason: str,
        *,
        attempts: int = 1,
        first_failure: float | None = None,
    ) -> asyncio.Future[None]:
        """Queue a dead letter (``EventStore.add_dead_letter``); same promise as ``write``."""
        letter = (event, target, reason, attempts, first_failure)
        return await self._put(_Item(self._future(), letter=letter))

    def _future(self) -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()

    async def _put(self, item: _Item) -> asyncio.Future[None]:
        if self._task is None:
            raise StoreError("the store writer is not running: await start() first")
        while self._pending and self._pending + item.size > self.max_pending:
            self._room.clear()
            await self._room.wait()
        self._queue.append(item)
        self._pending += item.size
        self.health.pending = self._pending
        self._wake.set()
        return item.done

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False if ``timeout`` ran out."""
        waiting = [item.done for item in self._queue if not item.done.done()]
        waiting += self._in_flight
        if not waiting:
            return True
        done, _ = await asyncio.wait(waiting, timeout=timeout)
        return len(done) == len(waiting)

    async def close(self, timeout: float | None = None) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then stop. What is still
        unwritten then has its future cancelled (its messages stay unacknowledged)."""
        if self._task is None:
            return
        await self.flush(timeout)
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        try:
            async with asyncio.timeout(self.check_timeout + 30):
                await asyncio.shield(task)  # a write in flight finishes in its thread
        except TimeoutError:
            log.error("store: the writer did not stop within its time; abandoning it")
        await cancel_and_wait(task)
        left = 0
        while self._queue:
            item = self._queue.popleft()
            left += item.size
            item.done.cancel()
        for fut in self._in_flight:
            fut.cancel()
        if left:
            log.warning("store: closed with %d events unwritten (left on the bus, unacked)", left)
        self._pending = 0
        self.health.pending = 0

    # --- the writing loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                if self.linger and self._pending < self.batch:
                    await asyncio.sleep(self.linger)  # let a few batches join this commit
                continue
            items = self._take()
            self._in_flight = [item.done for item in items]
            while True:
                try:
                    await asyncio.to_thread(self._write_items, items)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # an outage (or a bug): never stop, try again later
                    if not isinstance(exc, StoreError):
                        log.exception("store: unexpected error while writing")
                    self._went_down(exc)
                    if self._closing:
                        self._queue.extendleft(reversed(items))
                        self._in_flight = []
                        return
                    await asyncio.sleep(self.retry.delay(self._failures, self._rng.random()))
                    continue
                break
            self._came_up()
            self._in_flight = []
            for item in items:
                if not item.done.done():
                    item.done.set_result(None)
                self._pending -= item.size
            self.health.pending = self._pending
            if self._pending < self.max_pending:
                self._room.set()

    def _take(self) -> list[_Item]:
        items = [self._queue.popleft()]
        size = items[0].size
        while self._queue and size + self._queue[0].size <= self.batch:
            item = self._queue.popleft()
            items.append(item)
            size += item.size
        return items

    def _write_items(self, items: list[_Item]) -> None:
        """One attempt at ``items`` (in a worker thread). ``StoreError``: the store is down."""
        store = self.store
        events = [e for item in items for e in item.events]
        if events:
            rows, unwritable = encode(events)
            if unwritable:
                skip = {id(e) for e, _ in unwritable}
                events = [e for e in events if id(e) not in skip]

            def write(part: Sequence[tuple[Row, Event]]) -> int:
                return store.append_rows([row for row, _ in part])

            def check() -> None:
                store.check_writable(self.check_timeout)

            def refuse(row: tuple[Row, Event], reason: str) -> None:
                self._refuse(row[1], reason)

            for event, reason in unwritable:
                self._refuse(event, reason)
            self.health.written += isolate(
                list(zip(rows, events, strict=True)), write, check, refuse
            )
        for item in items:
            if item.letter is not None:
                self._keep(*item.letter)

    def _refuse(self, event: Event, reason: str) -> None:
        self._keep(event, STORE_TARGET, f"the history cannot hold this event: {reason}", 1, None)
        self.health.dead_lettered += 1

    def _keep(
        self, event: Event, target: str, reason: str, attempts: int, first: float | None
    ) -> None:
        """A dead letter; if the store refuses even that while writable, a stand-in."""
        try:
            self.store.add_dead_letter(
                event, target, reason[:2000], attempts=attempts, first_failure=first
            )
        except StoreUnavailable:
            raise  # down: retried later
        except StoreError as exc:
            self.store.check_writable(self.check_timeout)  # down: retried later
            stand_in = Event(
                f"store_rejected_{time.time_ns()}",
                "store_rejected",
                time.time(),
                "store",
                {"event_id": repr(event.event_id)[:200], "error": str(exc)[:2000]},
            )
            self.store.add_dead_letter(
                stand_in, target, reason[:2000], attempts=attempts, first_failure=first
            )
        if target == STORE_TARGET:
            log.warning("store: dead-lettered %r: %s", event.event_id, reason)

    def _went_down(self, exc: BaseException) -> None:
        h = self.health
        self._failures += 1
        h.errors_total += 1
        h.last_error = str(exc)[:500]
        if h.up:
            h.up = False
            h.since = time.time()
            log.error(
                "store: writes are failing (%s); holding %d events and retrying with backoff "
                "(the bus keeps them unacknowledged)",
                h.last_error,
                self._pending,
            )

    def _came_up(self) -> None:
        h = self.health
        if not h.up:
            down_for = time.time() - h.since
            h.up = True
            h.since = time.time()
            log.warning(
                "store: writes succeed again after %.1f s down (%d failed attempts)",
                down_for,
                self._failures,
            )
        self._failures = 0
