"""Issue 16: a view of 12,000 groups answered all 12,000 rows without a `limit`, and with
`limit=20000` too, with no truncation flag. Now an answer holds at most
LAMBDA_SERVING_MAX_ROWS (10,000) rows and `meta.truncated` says whether there were more; a
larger `limit` is a 422.

Its own pipeline: 12,000 groups in a view of the session's pipeline would cut the answers the
other tests compare with their ground truth."""

from collections.abc import Iterator

import pytest
from conftest import launch
from stacks import LocalPipeline

from common.model.timeutil import now_ms

pytestmark = pytest.mark.integration

GROUPS = 12_000
MAX_ROWS = 10_000


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    base = tmp_path_factory.mktemp("row-cap")
    default = {"LAMBDA_SERVING_MAX_ROWS": str(MAX_ROWS)}  # which the other tests' pipelines raise
    with launch(base, base / "data", extra_env=default) as handle:
        stamp = now_ms()
        events = [
            {"type": "purchase", "id": f"cap-{i}", "ts": stamp, "country": f"c{i:05d}"}
            for i in range(GROUPS)
        ]
        for first in range(0, GROUPS, 4_000):
            response = handle.post(events[first : first + 4_000])
            assert response.status_code == 202, response.text[:500]
        handle.wait_caught_up()
        yield handle


def countries(answer: dict) -> list[str]:
    return [row["country"] for row in answer["rows"]]


def test_without_a_limit_at_most_max_rows_and_truncated(wide):
    answer = wide.query("revenue_by_country")
    assert len(answer["rows"]) == MAX_ROWS
    assert answer["meta"]["truncated"] is True
    assert countries(answer) == [f"c{i:05d}" for i in range(MAX_ROWS)]  # the first, in order


def test_a_limit_over_max_rows_is_422(wide):
    response = wide.client.get(f"{wide.serving_url}/views/revenue_by_country?limit=20000")
    assert response.status_code == 422, response.text[:500]
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]
    assert "LAMBDA_SERVING_MAX_ROWS" in response.text


def test_a_limit_says_whether_it_cut(wide):
    cut = wide.query("revenue_by_country", limit=MAX_ROWS)
    assert len(cut["rows"]) == MAX_ROWS and cut["meta"]["truncated"] is True
    one = wide.query("revenue_by_country", filter="country:c00007")
    assert countries(one) == ["c00007"] and one["meta"]["truncated"] is False
    totals = wide.query("daily_totals")
    assert totals["meta"]["truncated"] is False
    assert sum(row["orders"] for row in totals["rows"]) == GROUPS
