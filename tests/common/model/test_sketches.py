"""The sketch families: stored, unioned and answered as serving answers them."""

import random

import pytest

from common.model.sketches import (
    HLL,
    KLL,
    distinct_estimate,
    quantile_name,
    quantiles_of,
    union_bytes,
)


@pytest.mark.parametrize(
    ("fraction", "name"),
    [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"), (0.05, "p5"), (0.125, "p12.5")],
)
def test_a_fraction_is_named_by_its_percentage(fraction, name):
    assert quantile_name(fraction) == name


def fold(family, values, k=None):
    sketch = family.new(k)
    for value in values:
        family.update(sketch, value)
    return family.serialize(sketch)


def rank_range(values: list[float], value: float) -> tuple[float, float]:
    return (
        sum(v < value for v in values) / len(values),
        sum(v <= value for v in values) / len(values),
    )


def test_kll_unions_of_compacted_sketches_answer_within_the_rank_error():
    rng = random.Random(5)
    values = [rng.lognormvariate(3, 1) for _ in range(20_000)]
    parts = [fold(KLL, values[i : i + 2_500]) for i in range(0, len(values), 2_500)]
    answer = quantiles_of(parts, (0.01, 0.5, 0.9, 0.99), None)
    assert answer is not None and set(answer) == {"p1", "p50", "p90", "p99"}
    for name, fraction in (("p1", 0.01), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        below, at_most = rank_range(values, answer[name])
        assert below - 0.0165 <= fraction <= at_most + 0.0165, (name, below, at_most)


def test_kll_below_k_keeps_every_value_so_any_split_answers_exactly():
    values = [float(v) for v in range(150)]
    whole = quantiles_of([fold(KLL, values)], (0.5, 0.99), None)
    split = quantiles_of([fold(KLL, values[:40]), fold(KLL, values[40:])], (0.5, 0.99), None)
    assert whole == split == {"p50": 74.0, "p99": 148.0}


def test_a_row_without_values_has_no_quantiles():
    assert quantiles_of(None, (0.5,), None) is None
    assert quantiles_of([fold(KLL, [None, None])], (0.5,), None) is None


def test_hll_union_of_stored_sketches_counts_distinct_values_once():
    a = fold(HLL, [f"u{i}" for i in range(0, 3_000)])
    b = fold(HLL, [f"u{i}" for i in range(2_000, 5_000)])
    assert distinct_estimate([a, b]) == pytest.approx(5_000, rel=0.03)
    unioned = union_bytes(HLL, [a, b], None)
    assert unioned is not None and distinct_estimate([unioned]) == distinct_estimate([a, b])
    assert union_bytes(HLL, [a], None) == a and union_bytes(HLL, [], None) is None
    assert distinct_estimate(None) == 0
