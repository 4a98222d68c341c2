"""Retry delays, the one definition: a pure generator, like websockets' client ``backoff()``.

Delay ``n`` (1-based: the sleep after the ``n``-th failure) is::

    min(maximum, initial * factor ** (n - 1)) * (1 - jitter * r)

with ``r`` uniform in [0, 1) drawn per delay: exponential growth capped at ``maximum``, and a
random part that only ever shortens a delay (by up to the ``jitter`` fraction), so ``maximum``
really is the longest sleep and many clients that failed together do not retry in step.

``backoff(...)`` yields those delays for ever (take a fresh generator to start over after a
success); ``delay(n, ...)`` is one of them. The sleeping loops live with their callers: the
schema watcher's reconnects, the Neural Mux's KPI writes, the dashboard hub's bus reads, and the
bridge's ``RetryPolicy`` (which adds its limits: attempts and elapsed time).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ctas7_panel.errors import ConfigError


def check(initial: float, maximum: float, factor: float, jitter: float) -> None:
    """``ConfigError`` naming the value when the parameters make no backoff."""
    if initial <= 0 or maximum <= 0:
        raise ConfigError(
            f"backoff initial={initial} and maximum={maximum} must be positive seconds"
        )
    if factor < 1:
        raise ConfigError(f"backoff factor={factor} must be at least 1")
    if not 0 <= jitter <= 1:
        raise ConfigError(f"backoff jitter={jitter} must be a fraction between 0 and 1")


def delay(
    attempt: int,
    *,
    initial: float,
    maximum: float,
    factor: float = 2.0,
    jitter: float = 0.0,
    rand: float = 0.0,
) -> float:
    """The sleep after failure ``attempt`` (1-based); ``rand`` uniform in [0, 1)."""
    raw = min(maximum, initial * factor ** min(max(attempt, 1) - 1, 64))
    return raw * (1.0 - jitter * rand)


def backoff(
    initial: float = 0.5,
    maximum: float = 30.0,
    factor: float = 2.0,
    jitter: float = 0.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """The delays between retries, for ever (see the module docstring); checked at once."""
    check(initial, maximum, factor, jitter)
    return _delays(initial, maximum, factor, jitter, rng)


def _delays(
    initial: float, maximum: float, factor: float, jitter: float, rng: Callable[[], float]
) -> Iterator[float]:
    attempt = 1
    while True:
        r = rng() if jitter else 0.0
        yield delay(attempt, initial=initial, maximum=maximum, factor=factor, jitter=jitter, rand=r)
        attempt = min(attempt + 1, 65)


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
        return delay(
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
        delays = backoff(self.base, self.max_delay, self.factor, self.jitter, r.random)
        return itertools.islice(delays, self.max_attempts - 1)

    def gives_up(self, attempts: int, elapsed: float, next_delay: float) -> bool:
        """True when no further attempt may be made."""
        return attempts >= self.max_attempts or elapsed + next_delay > self.max_elapsed
