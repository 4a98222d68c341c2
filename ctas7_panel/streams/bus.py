"""The bus: publish events to topics; named consumer groups share a topic's work; ack after use.

Semantics (shared by ``MemoryBus`` and ``RedisStreamsBus``):

- ``publish(event, topic=...)`` delivers the event to every consumer *group* of the topic; within
  a group each message goes to one consumer (competing consumers).
- A message stays *pending* in its group until ``ack``-ed. A subscription closed with unacked
  messages hands them back to its group (redelivered, ``delivery_count`` + 1): at-least-once.
  Consumers de-duplicate by ``event.event_id``.
- A group created with ``start="earliest"`` first receives what the topic still retains
  (``MemoryBus`` keeps the last ``retention`` messages per topic; Redis keeps its stream).
- A group subscribed with ``ephemeral=True`` belongs to one process (a gateway feed, a
  dashboard process): it is deleted when its subscription closes (``RedisStreamsBus`` also
  expires it when its process died without closing it).

``MemoryBus`` overflow policy (never a silent drop): each group holds at most ``capacity``
messages (ready + pending). A publisher waits up to ``put_timeout`` seconds for room; if there is
still none, the event goes to the ``overflow_sink`` (the store's dead-letter table, target
``bus:<group>``) and ``stats()["overflowed"]`` counts it. Without a sink the publisher raises
``BusError`` instead.

Cancel-safety: ``publish`` and ``Subscription.get`` may be cancelled at any await; a cancelled
``get`` takes nothing from the group.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, runtime_checkable

from ctas7_panel.errors import BusError
from ctas7_panel.events import Event
from ctas7_panel.lifecycle import AsyncService

DEFAULT_TOPIC = "events"
OverflowSink = Callable[[Event, str, str], Awaitable[None]]  # (event, target, reason)
Start = Literal["new", "earliest"]


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery of an event to a consumer group."""

    id: str
    topic: str
    group: str
    event: Event
    delivery_count: int = 1


@runtime_checkable
class Subscription(Protocol):
    """A consumer in a group. Iterate it, or call ``get``; ``ack`` what you have handled."""

    async def get(self, max_count: int = 1, timeout: float | None = None) -> list[Message]: ...

    async def ack(self, *messages: Message) -> None: ...

    async def close(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[Message]: ...


@runtime_checkable
class Bus(Protocol):
    """What every bus offers (callers never probe for a method: each bus has them all).

    ``claim_idle``: seconds after which a consumer takes over what a dead sibling left pending
    (Redis Streams; the memory bus has one process, its value is kept but unused).
    """

    claim_idle: float

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: Event, *, topic: str = DEFAULT_TOPIC) -> str: ...

    async def publish_many(
        self, events: Sequence[Event], *, topic: str = DEFAULT_TOPIC
    ) -> list[str]: ...

    async def drop_group(self, group: str, *, topic: str = DEFAULT_TOPIC) -> None: ...

    async def subscribe(
        self,
        group: str,
        *,
        topic: str = DEFAULT_TOPIC,
        consumer: str | None = None,
        start: Start = "new",
        ephemeral: bool = False,
    ) -> Subscription: ...

    def stats(self) -> dict[str, dict[str, int]]: ...

    async def __aenter__(self) -> Bus: ...

    async def __aexit__(self, *exc: object) -> None: ...


class _Group:
    """One consumer group of one topic: ready messages, pending ones, a bound on both."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.ready: deque[Message] = deque()
        self.pending: dict[str, Message] = {}
        self.cond = asyncio.Condition()

    def room(self) -> bool:
        return len(self.ready) + len(self.pending) < self.capacity

    async def put(self, message: Message, timeout: float) -> bool:
        async with self.cond:
            if not self.room():
                try:
                    async with asyncio.timeout(timeout):
                        await self.cond.wait_for(self.room)
                except TimeoutError:
                    return False
            self.ready.append(message)
            self.cond.notify_all()
            return True

    async def put_many(self, messages: list[Message], timeout: float) -> list[Message]:
        """Put as many as there is room for (waiting up to ``timeout`` for room each time);
        return the ones that did not fit."""
        async with self.cond:
            i = 0
            while i < len(messages):
                if not self.room():
                    try:
                        async with asyncio.timeout(timeout):
                            await self.cond.wait_for(self.room)
                    except TimeoutError:
                        break
                free = self.capacity - len(self.ready) - len(self.pending)
                chunk = messages[i : i + free]
                self.ready.extend(chunk)
                i += len(chunk)
                self.cond.notify_all()
            return messages[i:]

    async def take(self, max_count: int, timeout: float | None) -> list[Message]:
        async with self.cond:
            if not self.ready:
                try:
                    async with asyncio.timeout(timeout):
                        await self.cond.wait_for(lambda: bool(self.ready))
                except TimeoutError:
                    return []
            out: list[Message] = []
            while self.ready and len(out) < max_count:
                msg = self.ready.popleft()
                self.pending[msg.id] = msg
                out.append(msg)
            return out

    async def ack(self, ids: list[str]) -> int:
        async with self.cond:
            n = sum(1 for i in ids if self.pending.pop(i, None) is not None)
            if n:
                self.cond.notify_all()
            return n

    async def requeue(self, ids: list[str]) -> int:
        async with self.cond:
            back = [self.pending.pop(i) for i in ids if i in self.pending]
            for msg in reversed(back):
                self.ready.appendleft(replace(msg, delivery_count=msg.delivery_count + 1))
            if back:
                self.cond.notify_all()
            return len(back)


class MemorySubscription:
    """A consumer of a ``MemoryBus`` group."""

    def __init__(
        self, bus: MemoryBus, topic: str, group: _Group, name: str, *, ephemeral: str | None = None
    ) -> None:
        self._bus = bus
        self._topic = topic
        self._group = group
        self.name = name
        self._ephemeral = ephemeral  # the group's name, deleted on close
        self._held: set[str] = set()
        self._closed = False

    async def get(self, max_count: int = 1, timeout: float | None = None) -> list[Message]:
        if self._closed:
            raise BusError(f"subscription {self.name!r} is closed")
        msgs = await self._group.take(max_count, timeout)
        self._held.update(m.id for m in msgs)
        self._bus._count(self._topic, "delivered", len(msgs))
        return msgs

    async def ack(self, *messages: Message) -> None:
        ids = [m.id for m in messages]
        self._held.difference_update(ids)
        n = await self._group.ack(ids)
        self._bus._count(self._topic, "acked", n)

    async def close(self) -> None:
        """Stop consuming; unacked messages go back to the group for redelivery."""
        if self._closed:
            return
        self._closed = True
        if self._ephemeral is not None:
            self._bus._groups[self._topic].pop(self._ephemeral, None)
            self._held.clear()
            return
        n = await self._group.requeue(list(self._held))
        self._held.clear()
        self._bus._count(self._topic, "redelivered", n)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while not self._closed:
            for msg in await self.get(1):
                yield msg


class CountingBus(AsyncService):
    """What ``MemoryBus`` and ``RedisStreamsBus`` share: ``async with`` and counters per topic."""

    _stats: dict[str, dict[str, int]]  # topic -> counter -> n, a defaultdict of defaultdicts

    def _count(self, topic: str, what: str, n: int = 1) -> None:
        if n:
            self._stats[topic][what] += n

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per topic (this process): published, delivered, acked, redelivered, and
        overflowed (``MemoryBus``) or claimed, trimmed, rejected (``RedisStreamsBus``)."""
        return {topic: dict(counts) for topic, counts in self._stats.items()}


class MemoryBus(CountingBus):
    """The in-process bus (asyncio). See the module docstring for its overflow policy."""

    def __init__(
        self,
        *,
        capacity: int = 10_000,
        put_timeout: float = 2.0,
        retention: int = 1_000,
        overflow_sink: OverflowSink | None = None,
        claim_idle: float = 30.0,
    ) -> None:
        self.capacity = capacity
        self.claim_idle = claim_idle  # one process: nothing to claim (the Bus protocol's field)
        self.put_timeout = put_timeout
        self.retention = retention
        self.overflow_sink = overflow_sink
        self._groups: dict[str, dict[str, _Group]] = defaultdict(dict)
        self._retained: dict[str, deque[Message]] = defaultdict(lambda: deque(maxlen=retention))
        self._ids = itertools.count(1)
        self._consumers = itertools.count(1)
        self._stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True

    async def publish(self, event: Event, *, topic: str = DEFAULT_TOPIC) -> str:
        if self._closed:
            raise BusError("the bus is closed: publish before close()")
        msg_id = f"{next(self._ids)}"
        base = Message(msg_id, topic, "", event)
        self._retained[topic].append(base)
        self._count(topic, "published")
        for name, group in list(self._groups[topic].items()):
            if not await group.put(Message(msg_id, topic, name, event), self.put_timeout):
                await self._overflow(event, topic, name)
        return msg_id

    async def publish_many(
        self, events: Sequence[Event], *, topic: str = DEFAULT_TOPIC
    ) -> list[str]:
        """Publish a batch: one lock round per group instead of one per event (same policy)."""
        if self._closed:
            raise BusError("the bus is closed: publish before close()")
        if not events:
            return []
        ids = [f"{next(self._ids)}" for _ in events]
        tail = -self.retention if self.retention else len(events)  # only what retention keeps
        self._retained[topic].extend(
            Message(i, topic, "", e) for i, e in zip(ids[tail:], events[tail:], strict=True)
        )
        self._count(topic, "published", len(ids))
        for name, group in list(self._groups[topic].items()):
            msgs = [Message(i, topic, name, e) for i, e in zip(ids, events, strict=True)]
            for msg in await group.put_many(msgs, self.put_timeout):
                await self._overflow(msg.event, topic, name)
        return ids

    async def drop_group(self, group: str, *, topic: str = DEFAULT_TOPIC) -> None:
        """Delete a consumer group and what it holds (its subscriptions get nothing more)."""
        self._groups[topic].pop(group, None)

    async def _overflow(self, event: Event, topic: str, group: str) -> None:
        self._count(topic, "overflowed")
        reason = (
            f"bus overflow: group {group!r} of topic {topic!r} held {self.capacity} messages "
            f"for {self.put_timeout}s"
        )
        if self.overflow_sink is None:
            raise BusError(reason + "; no overflow sink configured")
        await self.overflow_sink(event, f"bus:{group}", reason)

    async def subscribe(
        self,
        group: str,
        *,
        topic: str = DEFAULT_TOPIC,
        consumer: str | None = None,
        start: Start = "new",
        ephemeral: bool = False,
    ) -> MemorySubscription:
        groups = self._groups[topic]
        created = group not in groups
        if created:
            groups[group] = _Group(self.capacity)
            if start == "earliest":
                for msg in list(self._retained[topic]):
                    groups[group].ready.append(replace(msg, group=group))
        name = consumer or f"{group}-{next(self._consumers)}"
        return MemorySubscription(
            self, topic, groups[group], name, ephemeral=group if ephemeral else None
        )
