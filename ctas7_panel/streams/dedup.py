"""``SeenIds``: the bounded set of delivered ``event_id`` s a consumer keeps so that a
redelivery (at-least-once transport) is not applied twice. Pure (no I/O).

Bound: ``capacity`` ids (default 100,000, about 10 MB), least recently seen evicted first, and
ids older than ``ttl`` seconds (default one hour) no longer count. A duplicate arriving after
both bounds is delivered again: the bound is the trade-off, stated. Used by the bridge's
targets, the gateway's feeds and the graph target; it lives with the bus (``streams/``) because
de-duplication is the other half of the bus's at-least-once contract.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Sequence

from ctas7_panel.errors import ConfigError

DEFAULT_SEEN_CAPACITY = 100_000
DEFAULT_SEEN_TTL = 3600.0


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
