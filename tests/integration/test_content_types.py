"""Issue 16: a web page in the user's browser could post `text/plain` to `:8000/events` (a
"simple" cross-site request, sent without asking) and have it counted. `POST /events` takes
only JSON and NDJSON: anything else answers 415 and nothing of it is written."""

import json

import pytest

from common.model.timeutil import now_ms

pytestmark = [pytest.mark.integration, pytest.mark.stack]

MARK = "ZZ-text-plain"  # a country no other test posts


def event() -> dict[str, object]:
    return {"type": "purchase", "country": MARK, "amount": 1.0, "user_id": "u-415"}


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_a_body_that_is_not_json_or_ndjson_is_refused_with_415(pipeline, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    response = pipeline.post(content=json.dumps(event()).encode(), headers=headers)
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["detail"]


def test_refused_bodies_are_not_counted_and_json_with_a_charset_is_taken(pipeline, ledger):
    refused = pipeline.post(
        content=json.dumps(event()).encode(), headers={"content-type": "text/plain"}
    )
    assert refused.status_code == 415
    # JSON with a charset parameter is JSON: taken, and recorded in the session's ledger
    # (answers count every event the pipeline holds, whatever its type).
    probe = {"type": "content_type_probe", "ts": now_ms()}
    taken = pipeline.post(
        content=json.dumps(probe).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert taken.status_code == 202, taken.text
    ledger.record([probe], taken.json()["ids"])
    pipeline.wait_caught_up()
    rows = pipeline.query("revenue_by_country", filter=f"country:{MARK}")["rows"]
    assert rows == []
