"""`/health` (ingest and serving) and `/status` never wait behind the broker: with the broker
frozen (SIGSTOP) while a request waits for its acknowledgement and a query for its lag, each
answers within 1 s. Once the broker runs again, so does the pipeline."""

import threading

import httpx
import pytest
from health_poller import HEALTH_BOUND_S, polling

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration  # the local pipeline: it freezes the broker's process


def test_health_and_status_answer_while_the_broker_is_frozen(pipeline, ledger):
    stamp = now_ms()
    event = {"type": "purchase", "id": f"frozen-{stamp}", "ts": stamp, "country": "frozen"}
    answers: dict[str, int] = {}

    def post_and_query() -> None:
        with httpx.Client(timeout=60) as client:
            answers["post"] = client.post(f"{pipeline.ingest_url}/events", json=event).status_code
            query = client.get(f"{pipeline.serving_url}/views/daily_totals")
            answers["query"] = query.status_code

    pipeline.pause("broker")
    try:
        with (
            polling(f"{pipeline.ingest_url}/health") as ingest,
            polling(f"{pipeline.serving_url}/health") as serving,
            polling(f"{pipeline.serving_url}/status") as status,
        ):
            waiting = threading.Thread(target=post_and_query)
            waiting.start()
            waiting.join(60)
    finally:
        pipeline.resume("broker")
    assert answers["post"] == 503  # the broker did not acknowledge in time
    assert answers["query"] == 200  # its lag unknown, its rows there
    for poller in (ingest, serving, status):
        assert poller.slowest() < HEALTH_BOUND_S, (poller.url, poller.answers)
    assert ingest.statuses() <= {200, 503} and serving.statuses() == {200}

    # The same event again, once the broker runs: accepted, and counted once.
    def accepted() -> bool:
        response = pipeline.post([event])
        if response.status_code == 202:
            ledger.record([event], response.json()["ids"])
        return response.status_code == 202

    wait_for(accepted, 60, "the broker to acknowledge again", interval_s=1)
    pipeline.wait_caught_up()
