"""The Telemetry Bridge: consume ``events``, store, route, transform, deliver reliably.

Usage::

    async with TelemetryBridge(bus, store, targets=build_targets(settings, bus)) as bridge:
        ...
        bridge.metrics_snapshot()             # counters, p50/p95/p99, success rate
        bridge.store_health                   # the history's writer: up, errors, pending
        await bridge.replay_dead_letters()    # -> how many were re-delivered

What it does with each batch of messages of topic ``events`` (group ``bridge``; several bridges
on one Redis share the work):

1. hands the events to the store writer (``store_writer.StoreWriter``: group commits, outages
   waited out with backoff, an event the history cannot hold kept as a dead letter). While
   too much is unwritten it waits: back-pressure, the bus keeps what is not read;
2. resolves each event's route (``routes.py``; no route -> the dashboard, counted as unrouted);
3. transforms it per target (``transforms.py``, pure) and delivers it: a batch at a time with
   ``deliver_many`` when the target offers it; a failed delivery is retried in its own task
   with exponential backoff and jitter (``RetryPolicy``) and, when the policy gives up, written
   to the dead-letter store with the reason and the attempt count. A delivery that fails
   because of the event itself (``EventError``: the target cannot encode it) and a transform
   that fails are dead-lettered at once: one bad event never holds up the others;
4. acknowledges a message only when its event is durably in the history *and* every target
   has it (delivered, or its dead letter is stored): end-to-end acknowledgement. The usual
   case is one acknowledgement per batch, after the batch's store commit. A crash before that
   leaves the message pending: another worker (or the restarted one) gets it again, the store
   skips what it has, the targets' de-duplication by ``event_id`` skips what they had.

Every ``metrics_interval`` seconds it publishes a ``bridge_metrics`` event (routed to the
dashboard and Neural Mux like any other). Retries in flight are bounded by ``max_retrying``
(the consumer waits for a slot: backpressure, not loss).

``close()`` (SIGTERM in ``ctas7 bridge``) stops taking messages, lets in-flight deliveries,
retries and store writes finish for up to ``drain_timeout`` seconds each, acks what is done,
and hands the rest back to the bus (pending: redelivered elsewhere). It is safe to call twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctas7_panel.bridge.delivery import RetryPolicy
from ctas7_panel.bridge.metrics import BridgeMetrics, metrics_payload, prometheus_text
from ctas7_panel.bridge.routes import RoutingTable, default_table
from ctas7_panel.bridge.targets import Target
from ctas7_panel.bridge.transforms import Transform, apply, transform_for
from ctas7_panel.errors import BusError, ConfigError, EventError, UsageError
from ctas7_panel.events import Event, new_event_id
from ctas7_panel.lifecycle import AsyncService
from ctas7_panel.store import EventStore
from ctas7_panel.store_writer import StoreHealth, StoreWriter
from ctas7_panel.streams.bus import DEFAULT_TOPIC, Bus, Message, Subscription

log = logging.getLogger(__name__)

BRIDGE_GROUP = "bridge"
METRICS_EVENT = "bridge_metrics"


def tune_gc(young: int = 10_000) -> None:
    """Cyclic-GC settings for a process whose job is running a bridge (``ctas7 bridge``).

    The hot path allocates many short-lived, acyclic objects (events, payload dicts, bus
    messages). Collecting the young generation every ``young`` allocations instead of
    Python's 700 cuts the collector's share of the hot path from ~15 % to ~3 % (measured with
    ``benchmarks/bridge.py``); only cyclic garbage, which the bridge hardly makes, waits longer.
    Whatever exists when this is called (imports, settings, the started bridge) is frozen out
    of full collections, which would otherwise rescan it (pauses of tens of ms).
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(eq=False, slots=True)
class _Consumed:
    """One batch taken off the bus. Its messages are acked once it is stored (``stored``) and
    its first delivery attempts are over (``tried``); ``lost``: the store write was abandoned
    at close, so none of them may be acked."""

    pending: list[_Pending]
    stored: bool = False
    tried: bool = False
    lost: bool = False


@dataclass(eq=False, slots=True)
class _Pending:
    """One consumed event and how many of its deliveries are unsettled."""

    event: Event
    message: Message | None
    received: float
    remaining: int = 0
    batch: _Consumed | None = None
    acked: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class _Plan:
    """What to do with one event type: its route and (target, transform) per target."""

    route: str
    unrouted: bool
    steps: tuple[tuple[str, Transform], ...]


@dataclass(slots=True)
class _Batch:
    """The first-attempt deliveries of one consumed batch to one target."""

    pending: list[_Pending] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # transformed


@dataclass(slots=True)
class _Delivery:
    pending: _Pending
    route: str
    target: str
    event: Event  # transformed
    attempts: int = 1
    first_attempt: float = field(default_factory=time.monotonic)
    error: BaseException | None = None  # of the first attempt


def gateway_metrics_text(rows: Sequence[tuple[str, str, dict[str, str], float]]) -> str:
    """Prometheus text of a gateway's rows alone (a gateway with no bridge in its process)."""
    return prometheus_text(None, rows)


class TelemetryBridge(AsyncService):
    """See the module docstring. An async context manager with ``start()``/``close()``."""

    def __init__(
        self,
        bus: Bus,
        store: EventStore,
        *,
        targets: Mapping[str, Target] | Sequence[Target],
        routes: RoutingTable | None = None,
        retry: RetryPolicy | None = None,
        group: str = BRIDGE_GROUP,
        topic: str = DEFAULT_TOPIC,
        worker: str | None = None,
        batch: int = 256,
        metrics_interval: float | None = 5.0,
        max_retrying: int = 4096,
        drain_timeout: float = 10.0,
        poll_timeout: float = 0.2,
        store_writer: StoreWriter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        if isinstance(targets, Mapping):
            self.targets: dict[str, Target] = dict(targets)
        else:
            self.targets = {t.name: t for t in targets}
        if routes is None:
            routes = default_table()  # the target table's default routes
        self.routes = routes
        self.retry = retry or RetryPolicy()
        self.group = group
        self.topic = topic
        self.worker = worker or default_worker_name()
        self.batch = batch
        self.metrics_interval = metrics_interval
        self.drain_timeout = drain_timeout
        self.poll_timeout = poll_timeout
        self.metrics = BridgeMetrics()
        self._writer = store_writer or StoreWriter(store)
        self._own_writer = store_writer is None
        self._acks: list[Message] = []
        self._ack_wake = asyncio.Event()
        self._rng = rng or random.Random()
        self._retry_slots = asyncio.Semaphore(max_retrying)
        self._retrying: set[asyncio.Task[Any]] = set()
        self._in_flight = 0
        self._sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._acker: asyncio.Task[None] | None = None
        self._plans: dict[str, _Plan] = {}
        self._stopping = asyncio.Event()
        self._stopping_acks = False
        self._started = False
        self._closed = False
        missing = sorted(routes.targets - set(self.targets))
        if missing:
            raise ConfigError(
                f"the routing table names target {missing[0]!r} but no such target is "
                f"configured (configured: {', '.join(sorted(self.targets)) or 'none'}); "
                "fix CTAS7_ROUTES or add the target"
            )

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, consume: bool = True) -> None:
        """Start the store writer and (unless ``consume=False``) the consumer and metrics loops."""
        if self._started:
            return
        self._started = True
        await self._writer.start()
        if consume:
            self._sub = await self.bus.subscribe(self.group, topic=self.topic, consumer=self.worker)
            self._acker = asyncio.create_task(self._ack_loop(), name="ctas7-bridge-ack")
            self._tasks.append(asyncio.create_task(self._consume(), name="ctas7-bridge-consume"))
        if self.metrics_interval:
            self._tasks.append(
                asyncio.create_task(self._metrics_loop(), name="ctas7-bridge-metrics")
            )

    async def close(self) -> None:
        """Stop consuming, drain deliveries and store writes, ack, hand back the rest."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        for task in self._tasks:
            if task.get_name() == "ctas7-bridge-metrics":
                task.cancel()
        # the consumer finishes its batch, unless it waits for the store (an outage) too long
        _, stuck = (
            await asyncio.wait(self._tasks, timeout=self.drain_timeout) if self._tasks else ((), ())
        )
        for task in stuck:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._retrying:
            _, still = await asyncio.wait(set(self._retrying), timeout=self.drain_timeout)
            for task in still:
                task.cancel()
            if still:
                log.warning(
                    "bridge %s: %d deliveries still retrying after %.1fs; handed back unacked",
                    self.worker,
                    len(still),
                    self.drain_timeout,
                )
                await asyncio.gather(*still, return_exceptions=True)
        if not await self._writer.flush(self.drain_timeout):
            log.warning(
                "bridge %s: the store did not take every event within %.1fs; those are handed "
                "back unacked",
                self.worker,
                self.drain_timeout,
            )
        if self._own_writer:
            await self._writer.close(timeout=0)
        if self._acker is not None:
            self._stopping_acks = True
            self._ack_wake.set()
            await asyncio.gather(self._acker, return_exceptions=True)
        if self._sub is not None:
            with contextlib.suppress(BusError):
                await self._sub.close()
        for target in self.targets.values():
            with contextlib.suppress(Exception):
                await target.close()

    @property
    def in_flight(self) -> int:
        """Deliveries not yet settled (being delivered or waiting to retry)."""
        return self._in_flight

    @property
    def store_health(self) -> StoreHealth:
        """The history's writer as seen by this bridge (``/healthz``, ``/metrics``, dashboard)."""
        return self._writer.health

    def metrics_snapshot(self) -> dict[str, Any]:
        """Counters per route/target and per target, p50/p95/p99 (ms), success rates."""
        return self.metrics.snapshot(worker=self.worker, in_flight=self._in_flight)

    def metrics_text(self, extra: Sequence[tuple[str, str, dict[str, str], float]] = ()) -> str:
        """Prometheus text of the bridge's counters plus ``extra`` rows (the gateway's: this is
        the ``metrics`` callable the gateway is given)."""
        return prometheus_text(self.metrics_snapshot(), extra)

    # --- the consumer -------------------------------------------------------------------------

    async def _consume(self) -> None:
        assert self._sub is not None
        sub = self._sub
        while not self._stopping.is_set():
            try:
                msgs = await sub.get(self.batch, timeout=self.poll_timeout)
            except BusError as exc:
                log.error("bridge %s: reading %s failed: %s", self.worker, self.topic, exc)
                await asyncio.sleep(0.5)
                continue
            if msgs:
                now = time.perf_counter()
                await self._process([_Pending(m.event, m, now) for m in msgs], now)

    async def submit(self, events: Iterable[Event]) -> None:
        """Route and deliver events directly (no bus message to ack), e.g. from tests."""
        now = time.perf_counter()
        await self._process([_Pending(e, None, now) for e in events], now)

    def _plan(self, event_type: str) -> _Plan:
        """The route and transforms of ``event_type`` (memoised, bounded like the routes)."""
        plan = self._plans.get(event_type)
        if plan is None:
            res = self.routes.resolve(event_type)
            steps = tuple((name, transform_for(name, event_type)) for name in res.targets)
            plan = _Plan(res.route, res.unrouted, steps)
            if len(self._plans) >= 4096:  # event types come from outside: stay bounded
                self._plans.clear()
            self._plans[event_type] = plan
        return plan

    async def _process(self, batch: list[_Pending], received: float) -> None:
        """Store, route, transform and deliver one batch (taken off the bus at ``received``).

        The first attempts of the whole batch (one ``deliver_many`` per target, the targets
        concurrently) finish before any retry starts. Then each event counts its unsettled
        deliveries in ``remaining``: the events with none are acked now, the others by the
        last of their retries to settle (delivered or dead-lettered).
        """
        metrics = self.metrics
        consumed = _Consumed(batch)
        for p in batch:
            p.batch = consumed
        stored = await self._writer.write([p.event for p in batch])  # waits while too much
        stored.add_done_callback(lambda fut: self._stored(consumed, fut))
        metrics.consumed += len(batch)
        per_target: dict[str, _Batch] = {}
        planned: dict[_Plan, int] = {}
        broken: list[tuple[_Pending, str, str, Exception]] = []
        plan_of = self._plan
        for p in batch:
            event = p.event
            plan = plan_of(event.event_type)
            planned[plan] = planned.get(plan, 0) + 1
            eid, etype, ts = event.event_id, event.event_type, event.timestamp
            src = event.source_node
            for name, fn in plan.steps:
                try:
                    out = Event(eid, etype, ts, src, fn(event))  # transforms.apply, inlined
                except Exception as exc:  # a payload the transform cannot read
                    broken.append((p, plan.route, name, exc))
                    continue
                tb = per_target.get(name)
                if tb is None:
                    tb = per_target[name] = _Batch()
                tb.pending.append(p)
                tb.routes.append(plan.route)
                tb.events.append(out)
        for plan, n in planned.items():
            if plan.unrouted:
                metrics.unrouted += n
            for name, _ in plan.steps:
                metrics.count("routed", plan.route, name, n)
            self._in_flight += n * len(plan.steps)
        failed: list[_Delivery] = []
        for p, route, name, error in broken:  # dead-lettered at once, in the retry tasks
            metrics.transform_errors += 1
            error = EventError(f"transform for {name} failed: {type(error).__name__}: {error}")
            failed.append(_Delivery(p, route, name, p.event, 0, error=error))
        if len(per_target) == 1:
            [(name, tb)] = per_target.items()
            failed += await self._deliver_batch(name, tb, received)
        elif per_target:
            for part in await asyncio.gather(
                *(self._deliver_batch(n, tb, received) for n, tb in per_target.items())
            ):
                failed += part
        for d in failed:
            d.pending.remaining += 1
        consumed.tried = True
        self._ack_ready(consumed)
        for d in failed:
            await self._retry_slots.acquire()
            task = asyncio.create_task(self._retry(d, d.error), name=f"ctas7-retry-{d.target}")
            self._retrying.add(task)
            task.add_done_callback(self._retry_done)

    async def _deliver_batch(self, name: str, tb: _Batch, received: float) -> list[_Delivery]:
        """First attempts to one target; returns the failed deliveries."""
        target = self.targets[name]
        events = tb.events
        results: list[BaseException | None]
        if len(events) > 1:
            try:
                results = list(await target.deliver_many(events))
            except EventError:  # one of them cannot be encoded: find it, deliver the rest
                results = [await self._first_attempt(target, e) for e in events]
            except Exception as exc:
                results = [exc] * len(events)
        else:
            results = []
            for e in events:
                try:
                    await target.deliver(e)
                    results.append(None)
                except Exception as exc:
                    results.append(exc)
        latency = time.perf_counter() - received
        ok = results.count(None)
        if ok == len(results):  # the usual case: per-route counts, no per-event work
            delivered = Counter(tb.routes)
            failed: list[_Delivery] = []
        else:
            delivered = Counter(r for r, err in zip(tb.routes, results, strict=True) if err is None)
            failed = [
                _Delivery(p, route, name, out, error=err)
                for p, route, out, err in zip(tb.pending, tb.routes, events, results, strict=True)
                if err is not None
            ]
        for route, n in delivered.items():
            self.metrics.delivered_n(route, name, n, latency)
        for d in failed:
            self.metrics.count("failed", d.route, name)
        self._in_flight -= ok
        return failed

    @staticmethod
    async def _first_attempt(target: Target, event: Event) -> BaseException | None:
        try:
            await target.deliver(event)
        except Exception as exc:
            return exc
        return None

    def _retry_done(self, task: asyncio.Task[Any]) -> None:
        self._retrying.discard(task)
        self._retry_slots.release()

    async def _retry(self, d: _Delivery, error: BaseException | None) -> bool:
        """Retry until delivered (True) or dead-lettered (False)."""
        target = self.targets[d.target]
        while True:
            if isinstance(error, EventError):  # the event itself: retrying cannot help
                await self._dead_letter(d, f"{d.target} cannot take this event: {error}")
                return False
            delay = self.retry.delay(d.attempts, self._rng.random())
            elapsed = time.monotonic() - d.first_attempt
            if self.retry.gives_up(d.attempts, elapsed, delay):
                reason = f"gave up after {d.attempts} attempts in {elapsed:.1f}s: {error}"
                await self._dead_letter(d, reason)
                return False
            await asyncio.sleep(delay)
            d.attempts += 1
            self.metrics.count("retried", d.route, d.target)
            try:
                await target.deliver(d.event)
            except Exception as exc:
                self.metrics.count("failed", d.route, d.target)
                error = exc
                continue
            self.metrics.delivered(d.route, d.target, time.perf_counter() - d.pending.received)
            self._settle(d.pending)
            return True

    async def _dead_letter(self, d: _Delivery, reason: str) -> None:
        """Keep the *original* event with the target's name (replay transforms it again); the
        delivery is settled once the dead letter is stored (an outage: it waits).

        An event that breaks the edge's rules (it can only have come from a producer writing to
        the bus directly) is kept wrapped as ``invalid_event`` under target
        ``invalid:<target>``: readable by ``ctas7 dlq list``, never replayed.
        """
        event, target = d.pending.event, d.target
        try:
            Event.from_dict(event.to_dict())
        except EventError as exc:
            event = Event(
                new_event_id(),
                "invalid_event",
                time.time(),
                f"bridge:{self.worker}",
                {"event": event.to_dict(), "error": str(exc), "field": exc.field},
            )
            target = f"invalid:{d.target}"
        stored = await self._writer.dead_letter(
            event,
            target,
            reason[:2000],
            attempts=max(1, d.attempts),
            first_failure=time.time() - (time.monotonic() - d.first_attempt),
        )
        await asyncio.wait([stored])
        if stored.cancelled():  # closing before the store took it: leave the message unacked
            log.error(
                "bridge %s: dead letter of %s for %s not stored; handed back unacked",
                self.worker,
                d.event.event_id,
                d.target,
            )
            return
        self.metrics.count("dead_lettered", d.route, d.target)
        log.warning("bridge: dead-lettered %s for %s: %s", d.event.event_id, d.target, reason)
        self._settle(d.pending)

    def _stored(self, consumed: _Consumed, fut: asyncio.Future[None]) -> None:
        """The store writer's callback: the batch is durable (or was abandoned at close)."""
        if fut.cancelled():
            consumed.lost = True
            return
        consumed.stored = True
        self._ack_ready(consumed)

    def _ack_ready(self, consumed: _Consumed) -> None:
        """Ack the batch's settled messages once it is stored and first attempts are over."""
        if not (consumed.stored and consumed.tried) or consumed.lost:
            return
        acks = self._acks
        for p in consumed.pending:
            if p.remaining == 0 and not p.acked and p.message is not None:
                p.acked = True
                acks.append(p.message)
        if acks:
            self._ack_wake.set()

    def _settle(self, p: _Pending) -> None:
        """One delivery of ``p`` is settled (delivered or dead-lettered)."""
        p.remaining -= 1
        self._in_flight -= 1
        if p.remaining == 0 and p.batch is not None:
            self._ack_ready(p.batch)

    async def _ack_loop(self) -> None:
        """Acks in the background while the next batch is read: whatever is ready, in one ack."""
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            if self._acks:
                messages, self._acks = self._acks, []
                await self._ack(*messages)
            if self._stopping_acks and not self._acks:
                return

    async def _ack(self, *messages: Message) -> None:
        if self._sub is None:
            return
        try:
            await self._sub.ack(*messages)
        except BusError as exc:  # not acked: redelivered later, de-duplicated at the targets
            log.error("bridge %s: ack failed: %s", self.worker, exc)

    # --- metrics events -----------------------------------------------------------------------

    def metrics_event(self) -> Event:
        payload = metrics_payload(
            self.metrics_snapshot(), worker=self.worker, interval_s=self.metrics_interval or 0.0
        )
        return Event.create(METRICS_EVENT, payload, source_node=f"bridge:{self.worker}")

    async def _metrics_loop(self) -> None:
        assert self.metrics_interval
        while True:
            await asyncio.sleep(self.metrics_interval)
            try:
                await self.bus.publish(self.metrics_event(), topic=self.topic)
            except BusError as exc:
                log.warning("bridge %s: cannot publish metrics: %s", self.worker, exc)

    # --- dead letters -------------------------------------------------------------------------

    async def replay_dead_letters(self, ids: Sequence[int] | None = None) -> int:
        """Re-deliver dead letters (all unreplayed ones, or ``ids``) through the normal path.

        Each goes to its target again with the full retry policy; a success marks it replayed,
        a new failure updates its attempt count and reason. Letters of the ``ingress`` target
        (malformed frames) cannot be replayed and are skipped. Returns how many were delivered.
        Works on a bridge that was never started (``ctas7 dlq replay``).
        """
        letters = await asyncio.to_thread(self.store.dead_letters, ids=ids)
        if ids is not None and not letters:
            raise UsageError(
                f"no unreplayed dead letter with id {', '.join(map(str, ids))}: "
                "see `ctas7 dlq list`"
            )
        replayed = 0
        for dl in letters:
            if dl.target == f"bus:{self.group}":
                await self.bus.publish(dl.event, topic=self.topic)
                ok = True
            elif dl.target in self.targets:
                ok = await self._redeliver(dl.event, dl.target)
            else:
                log.info("dead letter %d (target %s) cannot be replayed", dl.id, dl.target)
                continue
            if ok:
                await asyncio.to_thread(self.store.mark_replayed, [dl.id])
                self.metrics.replayed += 1
                replayed += 1
        return replayed

    async def _redeliver(self, event: Event, name: str) -> bool:
        route = self.routes.resolve(event.event_type).route
        p = _Pending(event, None, time.perf_counter(), remaining=1)
        self._in_flight += 1
        self.metrics.count("routed", route, name)
        try:
            out = apply(transform_for(name, event.event_type), event)
        except Exception as exc:
            await self._dead_letter(_Delivery(p, route, name, event, 0), f"transform failed: {exc}")
            return False
        d = _Delivery(p, route, name, out)
        try:
            await self.targets[name].deliver(out)
        except Exception as exc:
            self.metrics.count("failed", route, name)
            return await self._retry(d, exc)
        self.metrics.delivered(route, name, time.perf_counter() - p.received)
        self._settle(p)
        return True
