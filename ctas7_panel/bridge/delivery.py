"""Pure pieces of delivery: the retry policy (exponential backoff with jitter) and de-duplication.

``RetryPolicy.delays(rng)`` is a pure generator of sleep times, like websockets'
``backoff()``: attempt ``n`` (1-based) failed -> sleep ``min(max_delay, base * factor**(n-1))``
scaled down by up to ``jitter`` (a fraction, random per attempt), until ``max_attempts`` attempts
have been made or ``max_elapsed`` seconds have passed since the first one; then the delivery is
dead-lettered with the reason and the attempt count. The sleeping loop lives in the bridge.

``SeenIds`` (de-duplication by ``event_id``) lives in ``streams/dedup.py`` (re-exported here).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ctas7_panel.errors import ConfigError
from ctas7_panel.streams.dedup import SeenIds as SeenIds  # moved down to the bus layer


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
        raw = min(self.max_delay, self.base * self.factor ** min(attempt - 1, 64))
        return raw * (1.0 - self.jitter * rand)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The sleeps between attempts: ``max_attempts - 1`` of them at most."""
        r = rng or random.Random()
        for attempt in range(1, self.max_attempts):
            yield self.delay(attempt, r.random())

    def gives_up(self, attempts: int, elapsed: float, next_delay: float) -> bool:
        """True when no further attempt may be made."""
        return attempts >= self.max_attempts or elapsed + next_delay > self.max_elapsed
