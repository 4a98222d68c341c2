"""The one backoff (pure): growth, cap, jitter that only shortens, limits, fresh sequences."""

from __future__ import annotations

import itertools

import pytest

from ctas7_panel.backoff import backoff, delay
from ctas7_panel.errors import ConfigError


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = list(itertools.islice(backoff(0.5, 5.0), 7))
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_backoff_jitter_only_shortens_by_up_to_its_fraction() -> None:
    values = iter([0.0, 1.0, 0.5, 0.999])
    delays = list(itertools.islice(backoff(1.0, 5.0, jitter=0.2, rng=lambda: next(values)), 4))
    assert delays == pytest.approx([1.0, 1.6, 3.6, 5.0 * (1 - 0.2 * 0.999)])


def test_backoff_is_a_fresh_sequence_each_time() -> None:
    gen = backoff(1.0, 8.0)
    next(gen), next(gen)
    assert next(backoff(1.0, 8.0)) == 1.0


def test_delay_n_is_the_nth_of_the_sequence() -> None:
    seq = list(itertools.islice(backoff(0.1, 5.0), 8))
    assert [delay(n, initial=0.1, maximum=5.0) for n in range(1, 9)] == seq
    assert seq == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
    assert delay(10_000, initial=0.1, maximum=5.0, factor=3.0) == 5.0  # no overflow


def test_factor_one_is_a_constant_delay() -> None:
    assert list(itertools.islice(backoff(0.25, 1.0, factor=1.0), 3)) == [0.25, 0.25, 0.25]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"initial": 0.0}, "initial=0.0"),
        ({"maximum": -1.0}, "maximum=-1.0"),
        ({"factor": 0.5}, "factor=0.5"),
        ({"jitter": 1.5}, "jitter=1.5"),
    ],
)
def test_bad_parameters_are_config_errors_at_once(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        backoff(**kwargs)  # refused when made, not at the first next()
