"""Pure pieces of delivery: the retry policy (exponential backoff with jitter) and de-duplication.

``RetryPolicy.delays(rng)`` is a pure generator of sleep times, ``ctas7_panel.backoff``'s:
attempt ``n`` (1-based) failed -> sleep ``min(max_delay, base * factor**(n-1))`` scaled down by
up to ``jitter`` (a fraction, random per attempt), until ``max_attempts`` attempts have been made
or ``max_elapsed`` seconds have passed since the first one; then the delivery is
dead-lettered with the reason and the attempt count. The sleeping loop lives in the bridge.

``SeenIds`` is the bounded set of delivered ``event_id`` s a target keeps so that a redelivery
(at-least-once transport) is not applied twice. Bound: ``capacity`` ids (default 100,000, about
10 MB), least recently seen evicted first, and ids older than ``ttl`` seconds (default one
hour) no longer count. A duplicate arriving after both bounds is delivered again: the bound is
the trade-off, stated.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ctas7_panel import backoff
from ctas7_panel.errors import ConfigError

DEFAULT_SEEN_CAPACITY = 100_000
DEFAULT_SEEN_TTL = 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Limits of one delivery's retries. All times in seconds."""

    max_attempts: int = 20
    base: float = 0.05
    factor: float = 2.0
    max_delay: float = 5.0
    jitter: float = 0.5
    max_elapsed: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"retry max_attempts={self.max_attempts} must be at least 1")
        if self.base <= 0 or self.max_delay <= 0 or self.max_elapsed <= 0:
            raise ConfigError("retry base, max_delay and max_elapsed must be positive seconds")
        if self.factor < 1:
            raise ConfigError(f"retry factor={self.factor} must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ConfigError(f"retry jitter={self.jitter} must be a fraction between 0 and 1")

    def delay(self, attempt: int, rand: float) -> float:
        """Sleep after failed attempt ``attempt`` (1-based), ``rand`` uniform in [0, 1)."""
        return backoff.delay(
            attempt,
            initial=self.base,
            maximum=self.max_delay,
            factor=self.factor,
            jitter=self.jitter,
            rand=rand,
        )

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The sleeps between attempts: ``max_attempts - 1`` of them at most."""
        r = rng or random.Random()
        delays = backoff.backoff(self.base, self.max_delay, self.factor, self.jitter, r.random)
        return itertools.islice(delays, self.max_attempts - 1)

    def gives_up(self, attempts: int, elapsed: float, next_delay: float) -> bool:
        """True when no further attempt may be made."""
        return attempts >= self.max_attempts or elapsed + next_delay > self.max_elapsed


class SeenIds:
    """A bounded LRU+TTL set of event ids (see the module docstring for the bound)."""

    def __init__(
        self, capacity: int = DEFAULT_SEEN_CAPACITY, ttl: float = DEFAULT_SEEN_TTL
    ) -> None:
        if capacity < 1:
            raise ConfigError(f"de-duplication capacity={capacity} must be at least 1")
        self.capacity = capacity
        self.ttl = ttl
        self._ids: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def seen(self, event_id: str, now: float | None = None) -> bool:
        stamp = self._ids.get(event_id)
        if stamp is None:
            return False
        if (time.monotonic() if now is None else now) - stamp > self.ttl:
            del self._ids[event_id]
            return False
        return True

    def add(self, event_id: str, now: float | None = None) -> None:
        ids = self._ids
        ids[event_id] = time.monotonic() if now is None else now
        ids.move_to_end(event_id)
        while len(ids) > self.capacity:
            ids.popitem(last=False)

    def fresh(self, event_ids: Sequence[str], now: float) -> list[int]:
        """Positions of the ids in ``event_ids`` not seen yet (nor earlier in ``event_ids``):
        one pass for a batch. Records nothing (``add_many`` does, once delivered)."""
        ids = self._ids
        unique = set(event_ids)
        if len(unique) == len(event_ids) and ids.keys().isdisjoint(unique):
            return list(range(len(event_ids)))  # the usual case, at C speed
        ttl = self.ttl
        out: list[int] = []
        batch: set[str] = set()
        for i, event_id in enumerate(event_ids):
            stamp = ids.get(event_id)
            if stamp is not None:
                if now - stamp <= ttl:
                    continue
                del ids[event_id]
            if event_id in batch:
                continue
            batch.add(event_id)
            out.append(i)
        return out

    def add_many(self, event_ids: Sequence[str], now: float) -> None:
        """``add`` for a batch of ids with one timestamp."""
        ids = self._ids
        before = len(ids)
        ids.update(zip(event_ids, itertools.repeat(now)))
        if len(ids) - before != len(event_ids):  # some were there already: refresh them
            for event_id in event_ids:
                ids.move_to_end(event_id)
        for _ in range(len(ids) - self.capacity):
            ids.popitem(last=False)

    def check_and_add(self, event_id: str, now: float | None = None) -> bool:
        """True if ``event_id`` was already seen; records it either way."""
        t = time.monotonic() if now is None else now
        dup = self.seen(event_id, t)
        self.add(event_id, t)
        return dup
