"""Both services report health; serving shows how far each stage has come."""

import pytest
from events_factory import EventFactory
from stacks import wait_for

from common.timeutil import now_ms

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
