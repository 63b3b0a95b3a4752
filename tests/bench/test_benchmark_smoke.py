"""The benchmarks run end to end on a tiny load, so that they cannot rot (figures unchecked)."""

import pytest

from bench.__main__ import PEAKS, SERVICES, memory
from bench.ingest_rate import posted_rate, producer_rate
from bench.memory import services_peak_mb
from bench.speed_scaling import speed_scaling
from common.settings import CommonSettings
from tests.launcher import ROOT, launched

pytestmark = pytest.mark.integration


def test_speed_scaling_measures_every_replica_count_the_bare_consumer_and_memory(tmp_path):
    found = speed_scaling(tmp_path, 2_000, (1, 2), hold=3_000)
    assert set(found.rates) == {"bare consumer", "1 replica(s)", "2 replica(s)"}
    assert all(rate > 0 for rate in found.rates.values())
    assert found.restart_s > 0
    assert found.held == 3_000 and found.peak_mb and found.peak_mb > 10


def test_ingest_and_service_memory_are_measured_on_a_running_pipeline(tmp_path):
    with launched(tmp_path, tmp_path / "data", ROOT / "views.yaml") as pipeline:
        assert posted_rate(pipeline.ingest_url, 1) > 0
        settings = CommonSettings(kafka_bootstrap=pipeline.env["LAMBDA_KAFKA_BOOTSTRAP"])
        assert producer_rate(settings, 1) > 0
        peaks = services_peak_mb(pipeline.data_dir, SERVICES)
    assert all(mb and mb > 10 for mb in peaks.values()), peaks
    PEAKS.clear()
    PEAKS.update(peaks | {"speed holding 3,000 events": 80.0})
    row = memory()
    assert row["met"] and row["figures"]["ingest_mb"] == peaks["ingest"]
    PEAKS.clear()
