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

import random
from collections.abc import Callable, Iterator

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
