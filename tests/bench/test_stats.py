"""Nearest-rank percentiles of the benchmark figures."""

import pytest

from bench.stats import percentile, summary_ms


@pytest.mark.parametrize(("fraction", "expected"), [(0.0, 1), (0.5, 50), (0.99, 99), (1.0, 100)])
def test_nearest_rank(fraction, expected):
    assert percentile(list(range(100, 0, -1)), fraction) == expected


def test_one_value_is_every_percentile():
    assert percentile([0.25], 0.99) == 0.25


def test_summary_in_milliseconds():
    assert summary_ms([0.001, 0.002, 0.003]) == "p50 2 ms, p99 3 ms, max 3 ms over 3"
