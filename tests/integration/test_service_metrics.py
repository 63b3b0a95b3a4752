"""Services without an HTTP API answer GET /metrics on a port of their own (local pipeline:
the ports are in its environment; in Compose they are the containers' healthchecks)."""

import httpx
import pytest
from events_factory import EventFactory
from test_health import metric_value

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def scrape(pipeline, service: str) -> str:
    port = pipeline.env()[f"LAMBDA_{service.upper()}_METRICS_PORT"]
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10, auth=pipeline.keys)
    assert response.status_code == 200
    return response.text


def test_archiver_and_speed_layer_count_what_they_read(pipeline, ledger):
    archived = metric_value(
        scrape(pipeline, "archiver"), 'lambda_archiver_records_total{kind="event"}'
    )
    before = scrape(pipeline, "speed")
    folded = metric_value(before, "lambda_speed_records_total")
    timed = metric_value(before, "lambda_speed_freshness_seconds_count")
    ledger.post(pipeline, EventFactory(seed=7, prefix="svc-metrics", now_ms=now_ms()).batch(50))
    pipeline.wait_caught_up()
    wait_for(
        lambda: (
            metric_value(
                scrape(pipeline, "archiver"), 'lambda_archiver_records_total{kind="event"}'
            )
            >= archived + 50
        ),
        30,
        "the archiver to count the 50 events",
    )
    speed = scrape(pipeline, "speed")
    assert metric_value(speed, "lambda_speed_records_total") >= folded + 50
    assert metric_value(speed, "lambda_speed_batch_seconds_count") >= 1
    assert 'lambda_speed_lag{partition="0"}' in speed
    assert "process_resident_memory_bytes" in scrape(pipeline, "scheduler")
    assert 'lambda_batch_runs_total{state="succeeded",trigger="interval"}' in scrape(
        pipeline, "scheduler"
    )
    # every event served is timed from its receipt by ingest to the snapshot serving it
    wait_for(
        lambda: (
            metric_value(scrape(pipeline, "speed"), "lambda_speed_freshness_seconds_count")
            >= timed + 50
        ),
        10,
        "the speed layer to time the 50 events",
    )
