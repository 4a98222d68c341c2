"""The one Prometheus text encoder: layout, escaping, values and refusals (pure)."""

from __future__ import annotations

import math

import pytest

from ctas7_panel.errors import UsageError
from ctas7_panel.prometheus import (
    MetricFamily,
    Sample,
    encode,
    escape_help,
    escape_label,
    format_value,
)


def test_families_are_written_help_type_then_samples() -> None:
    text = encode(
        [
            MetricFamily(
                "jobs_total",
                "counter",
                (Sample((("queue", "a"),), 3), Sample((("queue", "b"),), 0)),
                "Jobs done.",
            ),
            MetricFamily(
                "wait_seconds",
                "summary",
                (
                    Sample((("quantile", "0.5"),), 0.25),
                    Sample((), 1.5, "_sum"),
                    Sample((), 6, "_count"),
                ),
            ),
            MetricFamily("up", "gauge", (Sample((), 1.0),)),
        ]
    )
    assert text == (
        "# HELP jobs_total Jobs done.\n"
        "# TYPE jobs_total counter\n"
        'jobs_total{queue="a"} 3\n'
        'jobs_total{queue="b"} 0\n'
        "# TYPE wait_seconds summary\n"
        'wait_seconds{quantile="0.5"} 0.25\n'
        "wait_seconds_sum 1.5\n"
        "wait_seconds_count 6\n"
        "# TYPE up gauge\n"
        "up 1.0\n"
    )


def test_label_values_and_help_are_escaped_per_the_format() -> None:
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_help('back\\slash "quoted"\nnext') == 'back\\\\slash "quoted"\\nnext'
    text = encode([MetricFamily("m", "gauge", (Sample((("p", 'x"\n\\'),), 1),), "a\nb")])
    assert text == '# HELP m a\\nb\n# TYPE m gauge\nm{p="x\\"\\n\\\\"} 1\n'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7, "7"),
        (0.099, "0.099"),
        (1.0, "1.0"),
        (-2.5e-7, "-2.5e-07"),
        (None, "NaN"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_values(value: float | int | None, text: str) -> None:
    assert format_value(value) == text


def test_nothing_to_say_is_no_text_and_an_empty_family_keeps_its_type() -> None:
    assert encode([]) == ""
    assert encode([MetricFamily("m_total", "counter")]) == "# TYPE m_total counter\n"


@pytest.mark.parametrize(
    ("family", "words"),
    [
        (MetricFamily("bad-name", "gauge"), "'bad-name'"),
        (MetricFamily("m", "gauge", (Sample((("0x", "v"),), 1),)), "'0x'"),
        (MetricFamily("m", "meter"), "'meter'"),
    ],
)
def test_bad_names_and_types_are_refused_by_name(family: MetricFamily, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        encode([family])


def test_a_family_given_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="'m' given twice"):
        encode([MetricFamily("m", "gauge"), MetricFamily("m", "gauge")])
