"""Retry policy (pure backoff) and the bounded de-duplication set."""

from __future__ import annotations

import random

import pytest

from ctas7_panel.bridge.delivery import RetryPolicy, SeenIds
from ctas7_panel.errors import ConfigError


def test_delays_grow_exponentially_up_to_the_cap_without_jitter() -> None:
    p = RetryPolicy(max_attempts=8, base=0.1, factor=2, max_delay=1.0, jitter=0)
    assert list(p.delays()) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


def test_jitter_stays_within_its_fraction() -> None:
    p = RetryPolicy(max_attempts=50, base=0.1, max_delay=2.0, jitter=0.5)
    rng = random.Random(7)
    for attempt, d in enumerate(p.delays(rng), start=1):
        raw = min(2.0, 0.1 * 2 ** (attempt - 1))
        assert raw * 0.5 <= d <= raw
    assert len({round(d, 6) for d in p.delays(random.Random(1))}) > 5  # really jittered


def test_gives_up_on_attempts_or_elapsed_time() -> None:
    p = RetryPolicy(max_attempts=3, max_elapsed=10.0)
    assert not p.gives_up(2, 1.0, 0.5)
    assert p.gives_up(3, 1.0, 0.5)
    assert p.gives_up(1, 9.8, 0.5)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base": 0}, {"factor": 0.5}, {"jitter": 1.5}, {"max_elapsed": -1}],
)
def test_bad_limits_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_seen_ids_is_a_bounded_lru() -> None:
    s = SeenIds(capacity=3)
    for i in "abc":
        s.add(i, now=0)
    assert s.seen("a", now=0)  # "a" is now most recently seen? no: seen() does not refresh
    s.add("a", now=0)  # refresh a
    s.add("d", now=0)  # evicts b (least recent)
    assert len(s) == 3
    assert not s.seen("b", now=0)
    assert all(s.seen(i, now=0) for i in "acd")


def test_seen_ids_expire_after_ttl() -> None:
    s = SeenIds(capacity=10, ttl=5)
    assert not s.check_and_add("x", now=0)
    assert s.check_and_add("x", now=4)
    assert not s.seen("x", now=10)
