"""Acceptance: bad input gets a 4xx a person understands, and nothing of it reaches any view."""

import orjson
import pytest
from events_factory import EventFactory

from common.model.timeutil import now_ms

# Runs against the local pipeline (make test) and the Compose stack (make test-containers).
pytestmark = [pytest.mark.integration, pytest.mark.stack]

MARK = "refused-probe"


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    text = response.text
    for word in words:
        assert word in text, f"{word!r} not in {text}"


def test_bad_requests_are_refused_whole(pipeline, ledger, truth):
    good = {"type": "purchase", "country": MARK, "amount": 5, "user_id": "x", "ts": now_ms()}

    assert_refused(
        pipeline.post(
            content=b'{"type": "purchase",', headers={"content-type": "application/json"}
        ),
        400,
        "not valid JSON",
    )
    assert_refused(pipeline.post([good, {"country": "NL"}]), 422, "type", "required")
    assert_refused(
        pipeline.post([good, {"type": "purchase", "meta": {"a": 1}}]), 422, "meta", "nested"
    )
    assert_refused(
        pipeline.post([good, {"type": "purchase", "amount": "12"}]), 422, "amount", "number"
    )
    assert_refused(pipeline.post([good, {"type": "bad type!"}]), 422, "type")
    assert_refused(
        pipeline.post([good, {"type": "purchase", "ts": "yesterday"}]), 422, "ts", "RFC 3339"
    )
    assert_refused(pipeline.post([good, {"type": "purchase", "id": "x" * 129}]), 422, "id", "128")
    ndjson = orjson.dumps(good) + b"\n{oops\n"
    assert_refused(
        pipeline.post(content=ndjson, headers={"content-type": "application/x-ndjson"}),
        400,
        "line 2",
    )

    detail = pipeline.post([good, good, {"type": "purchase", "amount": True}]).json()["detail"]
    assert detail[0]["index"] == 2 and detail[0]["field"] == "amount"

    too_many = [dict(good, id=f"many-{i}") for i in range(10_001)]
    assert_refused(pipeline.post(too_many), 413, "10000")
    huge = orjson.dumps([dict(good, id="big", padding="x" * (6 * 1024 * 1024))])
    assert_refused(
        pipeline.post(content=huge, headers={"content-type": "application/json"}), 413, "limit"
    )

    # A valid request afterwards goes through, and the views hold it but nothing refused.
    factory = EventFactory(seed=4, prefix="after-bad", now_ms=now_ms())
    ledger.post(pipeline, factory.batch(100))
    pipeline.wait_caught_up()
    for view in pipeline.catalog.views:
        answer = pipeline.query(view.name)
        truth.assert_matches(view, answer)
    countries = {
        r["country"] for r in pipeline.query("revenue_by_country", granularity="day")["rows"]
    }
    assert MARK not in countries


def test_unknown_view_and_bad_parameters(pipeline):
    client = pipeline.client
    assert client.get(f"{pipeline.serving_url}/views/nope").status_code == 404
    for params, word in [
        ({"granularity": "second"}, "granularity"),
        ({"granularity": "minute"}, "coarser"),
        ({"group_by": "city"}, "city"),
        ({"filter": "country"}, "dimension:value"),
        ({"start": "not-a-time"}, "start"),
        ({"source": "both"}, "source"),
        ({"limit": 0}, "limit"),
    ]:
        response = client.get(f"{pipeline.serving_url}/views/revenue_by_country", params=params)
        assert_refused(response, 422, word)
    listed = client.get(f"{pipeline.serving_url}/views").json()["views"]
    assert [v["name"] for v in listed] == [v.name for v in pipeline.catalog.views]
    assert listed[1]["metrics"]["buyers"] == "distinct"
