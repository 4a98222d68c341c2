"""The one quantile definition (numpy's "linear"), against hand-computed values and numpy."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctas7_panel.stats import quantile, quantiles


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        # h = (n - 1) q; x[floor h] + frac(h) * (x[floor h + 1] - x[floor h])
        ([10.0, 20.0, 30.0, 40.0], 0.9, 37.0),  # h = 2.7: 30 + 0.7 * 10
        ([10.0, 20.0, 30.0, 40.0], 0.5, 25.0),  # h = 1.5: 20 + 0.5 * 10
        ([10.0, 20.0, 30.0, 40.0], 0.0, 10.0),
        ([10.0, 20.0, 30.0, 40.0], 1.0, 40.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.25, 2.0),  # h = 1.0 exactly: x[1]
        ([1.0, 3.0], 0.99, 2.98),  # h = 0.99: 1 + 0.99 * 2
        ([5.0], 0.99, 5.0),
        ([float(i) for i in range(1, 101)], 0.99, 99.01),  # h = 98.01: 99 + 0.01 * 1
        ([float(i) for i in range(1, 101)], 0.5, 50.5),  # h = 49.5: 50 + 0.5 * 1
    ],
)
def test_linear_quantile_by_hand(values: list[float], q: float, expected: float) -> None:
    assert quantile(values, q) == pytest.approx(expected, abs=1e-12)


def test_agrees_with_numpy_linear_and_statistics_inclusive() -> None:
    values = [3.5, -1.0, 7.25, 7.25, 0.0, 12.0, 4.5, 100.0, -3.0]
    for q in (0.0, 0.01, 0.25, 0.5, 0.95, 0.99, 1.0):
        ref = float(np.quantile(values, q, method="linear"))
        assert quantile(sorted(values), q) == pytest.approx(ref, rel=1e-12, abs=1e-12)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    got = quantiles(values, (0.5, 0.95, 0.99))
    assert [got[0.5], got[0.95], got[0.99]] == pytest.approx([cuts[49], cuts[94], cuts[98]])


def test_no_values_no_quantile_and_q_is_checked() -> None:
    assert math.isnan(quantile([], 0.5))
    with pytest.raises(ValueError, match=r"1\.5"):
        quantile([1.0], 1.5)
    with pytest.raises(ValueError, match=r"-0\.1"):
        quantile([], -0.1)


def test_quantiles_sorts_its_input() -> None:
    assert quantiles([4.0, 1.0, 3.0, 2.0], (0.5,)) == {0.5: 2.5}


samples_strategy = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(samples_strategy, st.floats(min_value=0, max_value=1))
def test_quantile_equals_numpy_linear_percentile(values: list[float], q: float) -> None:
    ours = quantile(sorted(values), q)
    ref = float(np.percentile(values, q * 100, method="linear"))
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(samples_strategy.filter(lambda v: len(v) >= 2))
def test_percentiles_equal_statistics_quantiles_inclusive(values: list[float]) -> None:
    cuts = statistics.quantiles(values, n=100, method="inclusive")  # p1 .. p99
    ours = quantiles(values, (0.5, 0.95, 0.99))
    assert ours[0.5] == pytest.approx(cuts[49], rel=1e-9, abs=1e-6)
    assert ours[0.95] == pytest.approx(cuts[94], rel=1e-9, abs=1e-6)
    assert ours[0.99] == pytest.approx(cuts[98], rel=1e-9, abs=1e-6)
