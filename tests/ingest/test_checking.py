"""Checking a request whole: problems capped and counted, each event within Kafka's record
limit, and nothing passes unless all of it does."""

import orjson
import pytest

from common.model.events import (
    MAX_PROBLEMS,
    MAX_RECORD_BYTES,
    RECORD_OVERHEAD_BYTES,
    Event,
    record_size,
)
from ingest.checking import Refused, check_request

JSON = "application/json"
NUMERIC = {"purchase": {"amount"}}


def check(events: object, max_events: int = 10_000):
    return check_request(orjson.dumps(events), JSON, NUMERIC, max_events, 0)


def refused(events: object) -> Refused:
    with pytest.raises(Refused) as caught:
        check(events)
    return caught.value


def padded(size: int, event_id: str = "big") -> dict[str, object]:
    """An event whose record is exactly ``size`` bytes."""
    base = record_size(event_id.encode(), Event(event_id, "purchase", 0, {"pad": ""}).encode())
    return {"type": "purchase", "id": event_id, "ts": 0, "pad": "x" * (size - base)}


def test_one_event_of_400_000_empty_lists_is_one_small_problem():
    event = {"type": "purchase", **{f"p{i}": [] for i in range(400_000)}}
    problem = refused(event)
    assert problem.status == 422
    assert problem.body["problems"] == 1
    assert "at most 1,000 properties, got 400,000" in problem.body["detail"][0]["msg"]
    assert len(orjson.dumps(problem.body)) < 1000


def test_problems_are_listed_up_to_the_cap_and_all_counted():
    events = [{"type": "purchase", "amount": "x", "bad": [1]} for _ in range(300)]
    problem = refused(events)
    assert problem.status == 422
    assert problem.body["problems"] == 600
    assert len(problem.body["detail"]) == MAX_PROBLEMS
    assert [d["index"] for d in problem.body["detail"][:4]] == [0, 0, 1, 1]
    assert problem.events == 300


def test_problems_under_the_cap_are_all_listed():
    problem = refused([{"type": "purchase"}, {"type": "purchase", "amount": "x"}])
    assert problem.body["problems"] == 1 and len(problem.body["detail"]) == 1


def test_a_body_that_is_not_json_counts_its_one_problem():
    with pytest.raises(Refused) as caught:
        check_request(b"[{", JSON, NUMERIC, 10, 0)
    assert caught.value.status == 400
    assert caught.value.body["problems"] == 1


def test_an_event_over_the_record_limit_is_413_naming_its_index():
    problem = refused([{"type": "purchase", "amount": 1}, {"type": "purchase", "p": "x" * 2**21}])
    assert problem.status == 413
    assert problem.body["index"] == 1
    assert "event 1 is" in problem.body["detail"]
    assert f"{MAX_RECORD_BYTES:,}" in problem.body["detail"]
    assert problem.outcome == "too_large" and problem.events == 2


def test_the_first_of_several_oversized_events_is_named():
    big = {"type": "purchase", "p": "x" * 2**21}
    problem = refused([{"type": "purchase"}, {"type": "purchase"}, big, big])
    assert problem.body["index"] == 2
    assert "and 1 more" in problem.body["detail"]


def test_an_event_of_exactly_the_record_limit_passes():
    checked = check([padded(MAX_RECORD_BYTES)])
    ((key, value),) = checked.records
    assert record_size(key, value) == MAX_RECORD_BYTES
    assert len(value) == MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES - len(b"big")
    assert refused([padded(MAX_RECORD_BYTES + 1)]).body["index"] == 0


def test_an_invalid_event_is_422_even_beside_an_oversized_one():
    problem = refused([{"type": "purchase", "p": "x" * 2**21}, {"type": "purchase", "amount": "x"}])
    assert problem.status == 422
    assert problem.body["detail"][0]["index"] == 1


def test_too_many_events_is_413_without_an_index():
    with pytest.raises(Refused) as caught:
        check([{"type": "purchase"}] * 3, max_events=2)
    assert caught.value.status == 413 and caught.value.body["index"] is None


def test_records_are_the_events_keyed_by_id_in_request_order():
    checked = check([{"type": "purchase", "id": "a"}, {"type": "purchase", "id": "b"}])
    assert checked.ids == ["a", "b"]
    assert [key for key, _ in checked.records] == [b"a", b"b"]
    assert orjson.loads(checked.records[1][1])["id"] == "b"
