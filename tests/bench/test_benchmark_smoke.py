"""The benchmarks run end to end on a tiny load, so that they cannot rot (figures unchecked)."""

import subprocess
import sys
import time

import duckdb
import pytest

from bench.__main__ import PEAKS, SERVICES, memory
from bench.batch_vs_duckdb import archive, duckdb_seconds, spark_seconds
from bench.freshness import event_to_visible
from bench.ingest_rate import posted_rate, producer_rate
from bench.memory import services_peak_mb
from bench.queries import DAY_MS, seed_day, time_direct, time_queries
from bench.speed_scaling import speed_scaling
from common.model.views import load_catalog
from common.runtime.settings import CommonSettings
from common.storage.lake import Lake
from runner.launcher import ROOT, launched

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


def test_batch_and_duckdb_recompute_the_same_archive(tmp_path):
    lake = Lake(tmp_path / "data")
    archive(lake, 4_000)
    first, scheduled = spark_seconds(lake.root, ROOT / "views.yaml")
    assert first > 0 and scheduled > 0
    out = tmp_path / "duckdb"
    out.mkdir()
    assert duckdb_seconds(lake, load_catalog(ROOT / "views.yaml"), out) > 0
    version = lake.read_manifest()
    with duckdb.connect() as connection:
        ((duck_orders,),) = connection.execute(
            f"SELECT sum(orders) FROM '{out / 'revenue_by_country.parquet'}'"
        ).fetchall()
        ((spark_orders,),) = connection.execute(
            "SELECT sum(orders__count) FROM read_parquet(?)",
            [str(lake.view_dir(version.version, "revenue_by_country") / "*.parquet")],
        ).fetchall()
    assert duck_orders == spark_orders > 0  # the same aggregation


def test_freshness_and_queries_are_measured_on_a_running_pipeline(tmp_path):
    with launched(tmp_path, tmp_path / "data", ROOT / "views.yaml") as pipeline:
        latencies = event_to_visible(pipeline.ingest_url, pipeline.serving_url, 200, 2)
        assert latencies and all(0 < s < 30 for s in latencies)
        day = (int(time.time() * 1000) // DAY_MS - 2) * DAY_MS
        seed_day(pipeline.ingest_url, day, 2_000, "batch")
        subprocess.run(
            [sys.executable, "-m", "runner.batch"], env=pipeline.env, cwd=ROOT, check=True
        )
        merged, in_server = time_queries(pipeline.serving_url, {"group_by": ""}, 3)
        assert len(merged) == len(in_server) == 3 and all(s > 0 for s in merged)
        lake = Lake(pipeline.data_dir)
        files = sorted(
            lake.view_dir(lake.read_manifest().version, "page_views_by_page").glob("*.parquet")
        )
        assert all(s > 0 for s in time_direct(files, day, day + DAY_MS, 3))
