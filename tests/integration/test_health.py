"""Both services report health; serving shows how far each stage has come."""

import pytest
from events_factory import EventFactory

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

# Runs against the local pipeline (make test) and the Compose stack (make test-containers).
pytestmark = [pytest.mark.integration, pytest.mark.stack]


def test_health_shows_every_stage_catching_up(pipeline, ledger):
    client = pipeline.client
    assert client.get(f"{pipeline.ingest_url}/health").json()["status"] == "ok"
    ledger.post(pipeline, EventFactory(seed=5, prefix="health", now_ms=now_ms()).batch(300))

    def all_caught_up() -> dict | None:
        body = client.get(f"{pipeline.serving_url}/health").json()
        caught_up = body["speed"]["lag"] == 0 and body["archive"]["lag"] == 0
        return body if caught_up else None

    body = wait_for(all_caught_up, 30, "speed and archive to catch up")
    assert body["status"] == "ok" and body["broker"] is True
    assert body["archive"]["offsets"] >= 300
    assert body["archive"]["files"] >= 1
    assert body["speed"]["age_s"] is not None
    assert body["batch"]["events"] + body["speed"]["events"] == len(ledger.distinct_ids())


def metric_value(text: str, sample: str) -> float:
    """The value of one sample (name and labels, as Prometheus prints them) in ``text``."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{sample} not in the metrics:\n{text[:2000]}")


def test_both_http_services_serve_prometheus_metrics(pipeline, ledger):
    client = pipeline.client
    before = metric_value(
        client.get(f"{pipeline.ingest_url}/metrics").text,
        'lambda_ingest_events_total{outcome="accepted"}',
    )
    ledger.post(pipeline, EventFactory(seed=6, prefix="metrics", now_ms=now_ms()).batch(40))
    pipeline.query("daily_totals", limit=1)
    ingest = client.get(f"{pipeline.ingest_url}/metrics")
    assert ingest.status_code == 200 and ingest.headers["content-type"].startswith("text/plain")
    accepted = metric_value(ingest.text, 'lambda_ingest_events_total{outcome="accepted"}')
    assert accepted == before + 40
    assert metric_value(ingest.text, "lambda_ingest_produce_seconds_count") >= 1
    serving = client.get(f"{pipeline.serving_url}/metrics").text
    assert metric_value(serving, 'lambda_serving_query_seconds_count{view="daily_totals"}') >= 1
    assert (
        metric_value(serving, 'lambda_http_requests_total{route="/views/{name}",status="200"}') >= 1
    )
    assert "/metrics" not in client.get(f"{pipeline.serving_url}/openapi.json").json()["paths"]
