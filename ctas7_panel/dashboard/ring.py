"""Bounded, sequence-numbered buffers that many readers follow with their own cursor.

The hub appends; every browser session keeps a cursor (the last ``seq`` it has seen) and asks
``since(cursor)`` on each flush. Readers hold no reference inside the ring, so sessions that come
and go cost nothing here, and memory is ``maxlen`` items whatever happens. A reader that fell
further behind than ``maxlen`` gets what is still held and the count it missed.

Pure and thread-safe (one lock): no I/O, no asyncio.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """What a reader gets: new items (oldest first), its next cursor, how many it missed."""

    items: list[T]
    cursor: int
    missed: int = 0


class SeqRing(Generic[T]):
    """A ring of at most ``maxlen`` items, each numbered by an increasing ``seq`` (from 1)."""

    def __init__(self, maxlen: int) -> None:
        if maxlen <= 0:
            raise ValueError(f"maxlen must be positive, got {maxlen}")
        self.maxlen = maxlen
        self._items: deque[tuple[int, T]] = deque(maxlen=maxlen)
        self._last = 0
        self._lock = threading.Lock()

    @property
    def last_seq(self) -> int:
        return self._last

    def __len__(self) -> int:
        return len(self._items)

    def append(self, item: T) -> int:
        with self._lock:
            self._last += 1
            self._items.append((self._last, item))
            return self._last

    def extend(self, items: Iterable[T]) -> int:
        with self._lock:
            for item in items:
                self._last += 1
                self._items.append((self._last, item))
            return self._last

    def since(self, cursor: int, *, limit: int | None = None) -> Batch[T]:
        """Items with ``seq > cursor`` (at most the newest ``limit`` of them).

        A cursor beyond the newest seq (a reader of an older ring) starts again from the start.
        """
        with self._lock:
            if cursor > self._last or cursor < 0:
                cursor = 0
            if cursor == self._last or not self._items:
                return Batch([], self._last)
            first = self._items[0][0]
            start = max(cursor + 1, first)
            missed = start - (cursor + 1)
            count = self._last - start + 1
            if limit is not None and count > limit:
                missed += count - limit
                count = limit
            items = [item for _, item in itertools.islice(reversed(self._items), count)]
            items.reverse()
            return Batch(items, self._last, missed)

    def latest(self, n: int, predicate: Callable[[T], bool] | None = None) -> list[T]:
        """The newest ``n`` items (newest first) for which ``predicate`` holds."""
        out: list[T] = []
        with self._lock:
            for _, item in reversed(self._items):
                if predicate is None or predicate(item):
                    out.append(item)
                    if len(out) >= n:
                        break
        return out

    def find(self, predicate: Callable[[T], bool]) -> T | None:
        """The newest item for which ``predicate`` holds, or None."""
        found = self.latest(1, predicate)
        return found[0] if found else None
