"""The benchmarks run end to end on a tiny load, so that they cannot rot (figures unchecked)."""

import pytest

from bench.speed_scaling import speed_scaling

pytestmark = pytest.mark.integration


def test_speed_scaling_measures_every_replica_count_and_the_bare_consumer(tmp_path):
    rates, restart = speed_scaling(tmp_path, 2_000, (1, 2))
    assert set(rates) == {"bare consumer", "1 replica(s)", "2 replica(s)"}
    assert all(rate > 0 for rate in rates.values())
    assert restart > 0
