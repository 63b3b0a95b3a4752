"""Bounded queries: at most LAMBDA_SERVING_MAX_ROWS rows with meta.truncated, a larger limit
refused, a query cut at its timeout, and starts within one bucket sharing one cache entry."""

import duckdb
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from common.model.events import Event
from common.model.views import parse_catalog
from serving_layer.main import create_app
from serving_layer.merge import merge
from serving_layer.periods import Buckets
from serving_layer.query_spec import QueryError, bucket_ceiling
from serving_layer.reduced_cache import cache_key
from serving_layer.settings import ServingSettings
from speed_layer.view_state import ViewState
from tests.support.shop_views import purchase_view, spec_of
from tests.support.slices import publish_slice

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z
HOUR = 3_600_000
CATALOG = parse_catalog(
    {
        "views": [
            purchase_view("orders", "hour", ["country"], {"orders": "count"}),
            purchase_view("buyers", "hour", ["country"], {"buyers": {"distinct": "user_id"}}),
        ]
    }
)
ORDERS = CATALOG.get("orders")
GROUPS = 12  # one event per country


def events(count: int = GROUPS) -> list[Event]:
    return [
        Event(f"e{i}", "purchase", T0, {"country": f"c{i:03d}", "user_id": f"u{i}"})
        for i in range(count)
    ]


# -- start and end on the buckets they select ---------------------------------------------


def test_starts_within_one_bucket_are_one_query_and_one_cache_entry():
    specs = [
        spec_of(ORDERS, start=f"2026-01-31T17:00:00.00{i}Z", end="2026-01-31T19:59:59Z")
        for i in range(1, 4)
    ]
    assert {s.start_ms for s in specs} == {T0 + HOUR}  # the first bucket at or after start
    assert {s.end_ms for s in specs} == {T0 + 3 * HOUR}
    assert len({cache_key("part", s) for s in specs}) == 1


def test_a_start_on_a_bucket_stays_and_a_rolled_up_query_rounds_to_its_own_buckets():
    assert spec_of(ORDERS, start="2026-01-31T17:00:00Z").start_ms == T0
    day = spec_of(ORDERS, start="2026-01-31T17:00:00Z", granularity="day")
    assert day.start_ms == T0 + 7 * HOUR  # the next midnight
    assert bucket_ceiling(None, Buckets("hour")) is None
    assert bucket_ceiling(T0 - 1, Buckets("hour")) == T0


def test_rounding_selects_what_the_bucket_rule_selects(tmp_path):
    view_state = ViewState(ORDERS)
    for hour in range(3):
        view_state.apply(Event(f"h{hour}", "purchase", T0 + hour * HOUR, {"country": "NL"}))
    path = tmp_path / "orders.parquet"
    pq.write_table(view_state.to_table(), path)
    spec = spec_of(ORDERS, start="2026-01-31T17:00:00.001Z", end="2026-01-31T19:00:00.001Z")
    buckets = [r["bucket"] for r in merge(duckdb.connect(), spec, [path]).rows]
    assert buckets == ["2026-01-31T18:00:00Z", "2026-01-31T19:00:00Z"]


# -- rows capped, truncation said ------------------------------------------------------------


@pytest.fixture
def groups_file(tmp_path):
    view_state = ViewState(ORDERS)
    for event in events():
        view_state.apply(event)
    path = tmp_path / "orders.parquet"
    pq.write_table(view_state.to_table(), path)
    return path


@pytest.mark.parametrize(
    ("max_rows", "limit", "rows", "truncated"),
    [
        (5, None, 5, True),
        (GROUPS, None, GROUPS, False),
        (GROUPS + 1, None, GROUPS, False),
        (100, 3, 3, True),
        (100, GROUPS, GROUPS, False),
    ],
)
def test_rows_are_cut_at_the_cap_and_say_so(groups_file, max_rows, limit, rows, truncated):
    spec = spec_of(ORDERS, max_rows=max_rows, limit=limit)
    merged = merge(duckdb.connect(), spec, [groups_file])
    assert len(merged.rows) == rows
    assert merged.truncated is truncated
    assert [r["country"] for r in merged.rows] == [f"c{i:03d}" for i in range(rows)]


def test_a_limit_over_the_cap_is_refused():
    with pytest.raises(QueryError, match="LAMBDA_SERVING_MAX_ROWS") as caught:
        spec_of(ORDERS, max_rows=10, limit=11)
    assert caught.value.param == "limit"


# -- the route -----------------------------------------------------------------------------


def client(lake, **settings) -> TestClient:
    publish_slice(lake, CATALOG, 0, None, GROUPS, events())
    serving = ServingSettings(data_dir=lake.root, kafka_bootstrap="127.0.0.1:1", **settings)
    return TestClient(create_app(serving, CATALOG), raise_server_exceptions=False)


def test_the_route_caps_rows_and_refuses_a_larger_limit(lake):
    with client(lake, serving_max_rows=5) as http:
        answer = http.get("/views/orders").json()
        assert len(answer["rows"]) == 5 and answer["meta"]["truncated"] is True
        refused = http.get("/views/orders", params={"limit": 6})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["query", "limit"]
    with client(lake, serving_max_rows=GROUPS) as http:
        answer = http.get("/views/orders").json()
        assert len(answer["rows"]) == GROUPS and answer["meta"]["truncated"] is False


def test_the_route_orders_before_the_cap_and_rolls_up_in_a_zone(lake):
    with client(lake, serving_max_rows=5) as http:
        params = {"order_by": "-country", "granularity": "day", "tz": "Europe/Amsterdam"}
        answer = http.get("/views/orders", params=params).json()
        assert [r["country"] for r in answer["rows"]] == [f"c{i:03d}" for i in range(11, 6, -1)]
        assert {r["bucket"] for r in answer["rows"]} == {"2026-01-31T00:00:00+01:00"}
        assert answer["meta"]["truncated"] is True
        answer = http.get("/views/buyers", params={"metrics": "buyers", "group_by": ""}).json()
        assert answer["rows"] == [{"bucket": "2026-01-31T17:00:00Z", "buyers": GROUPS}]


@pytest.mark.parametrize(
    ("params", "param", "reason"),
    [
        ({"granularity": "day", "tz": "Asia/Kolkata"}, "tz", "UTC+05:30"),
        ({"tz": "Europe/Amsterdam"}, "tz", "a day or coarser"),
        ({"metrics": "revenue"}, "metrics", "not a metric of orders"),
        ({"order_by": "-revenue"}, "order_by", "not a column of the answer"),
        ({"quantiles": "0.5,2"}, "quantiles", "between 0 and 1"),
    ],
)
def test_the_route_refuses_a_bad_new_parameter_with_422(lake, params, param, reason):
    with client(lake) as http:
        refused = http.get("/views/orders", params=params)
        assert refused.status_code == 422
        (problem,) = refused.json()["detail"]
        assert problem["loc"] == ["query", param]
        assert reason in problem["msg"]


def test_ordering_by_a_distinct_metric_over_too_many_rows_answers_422(lake):
    with client(lake, serving_max_rows=1) as http:  # 12 rows, 10 at most to estimate
        refused = http.get("/views/buyers", params={"order_by": "-buyers"})
        assert refused.status_code == 422, refused.text
        (problem,) = refused.json()["detail"]
        assert problem["loc"] == ["query", "order_by"]
        assert "more than 10 rows" in problem["msg"]
        answer = http.get("/views/buyers", params={"order_by": "-buyers", "group_by": ""})
        assert answer.json()["rows"] == [{"bucket": "2026-01-31T17:00:00Z", "buyers": GROUPS}]


def test_a_query_past_its_timeout_answers_503_with_retry_after(lake):
    with client(lake, serving_query_timeout_s=1e-9, retry_after_seconds=3) as http:
        answer = http.get("/views/orders")
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "3"
        assert "longer than" in answer.json()["detail"]
        assert http.get("/health").status_code == 200


def test_the_contract_defaults():
    settings = ServingSettings()
    assert settings.serving_max_rows == 10_000
    assert settings.serving_query_timeout_s == 10
