"""Issue 16: `POST /events` and `POST /batch/runs` with `Origin: https://evil.example` were
answered 202 (a page anywhere could write events and start batch runs through the user's
browser). A `POST`, `PUT` or `DELETE` whose Origin is not the service's own answers 403 and
does nothing; the service's own origin, and no Origin at all (curl), are answered."""

import pytest

from common.model.timeutil import now_ms

pytestmark = [pytest.mark.integration, pytest.mark.stack]

EVIL = {"origin": "https://evil.example"}


def test_a_foreign_origin_may_not_post_events(pipeline, ledger):
    for origin in ("https://evil.example", "null", "http://127.0.0.1:1"):
        response = pipeline.post({"type": "origin_probe"}, headers={"origin": origin})
        assert response.status_code == 403, (origin, response.text)
        assert "Origin" in response.json()["detail"]
    probe = {"type": "origin_probe", "ts": now_ms()}
    own = pipeline.post(probe, headers={"origin": pipeline.ingest_url})
    assert own.status_code == 202, own.text
    ledger.record([probe], own.json()["ids"])  # answers count it: the session's ledger must


def test_a_foreign_origin_may_not_start_a_batch_run(pipeline):
    runs = f"{pipeline.serving_url}/batch/runs"
    before = pipeline.client.get(runs).json()["runs"]
    refused = pipeline.client.post(runs, headers=EVIL)
    assert refused.status_code == 403, refused.text
    assert pipeline.client.get(runs).json()["runs"] == before  # nothing was queued
    for method in ("PUT", "DELETE"):
        answer = pipeline.client.request(method, runs, headers=EVIL)
        assert answer.status_code == 403, (method, answer.text)


def test_reading_from_a_foreign_origin_is_answered(pipeline):
    # Reading changes nothing, and no CORS header lets the foreign page see the answer.
    answer = pipeline.client.get(f"{pipeline.serving_url}/views", headers=EVIL)
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
