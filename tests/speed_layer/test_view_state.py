"""One view's incremental state: per (bucket, dimensions) group, mergeable metric parts."""

import pyarrow as pa
import pytest
from datasketches import hll_sketch

from common.model.events import Event
from common.model.metric_kinds import view_columns
from common.model.views import parse_catalog
from speed_layer.view_state import ViewState
from tests.support.shop_views import purchase_view

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z, an hour boundary
MINUTE = 60_000
HOUR = 3_600_000

CATALOG = parse_catalog(
    {
        "views": [
            purchase_view("revenue_by_country", "hour", ["country", "device"]),
            purchase_view("totals", "minute", None, {"orders": "count"}),
        ]
    }
)
REVENUE = CATALOG.get("revenue_by_country")
TOTALS = CATALOG.get("totals")

_counter = iter(range(10**9))


def purchase(ts=T0, **props):
    return Event(id=f"e{next(_counter)}", type="purchase", ts=ts, props=props)


def rows_by_group(state):
    """The state table as {(bucket, *dims): row}, with distinct sketches as estimates."""
    table = state.to_table()
    result = {}
    for row in table.to_pylist():
        for name, value in row.items():
            if name.endswith("__hll"):
                row[name] = hll_sketch.deserialize(value).get_estimate()
        key = (row.pop("bucket"), *(row.pop(d) for d in state.view.dimensions))
        result[key] = row
    return result


def test_a_new_state_is_an_empty_table_with_the_view_columns():
    state = ViewState(REVENUE)
    table = state.to_table()
    assert table.num_rows == 0
    assert table.column_names == view_columns(REVENUE)


def test_to_table_columns_and_types():
    state = ViewState(REVENUE)
    state.apply(purchase(country="DE", device="web", amount=2.0, user_id="u1"))
    table = state.to_table()
    assert table.column_names == view_columns(REVENUE)
    assert table.column_names == [
        "bucket",
        "country",
        "device",
        "orders__count",
        "revenue__sum",
        "revenue__n",
        "smallest__min",
        "largest__max",
        "average__sum",
        "average__n",
        "buyers__hll",
    ]
    types = dict(zip(table.column_names, table.schema.types, strict=True))
    assert types == {
        "bucket": pa.int64(),
        "country": pa.string(),
        "device": pa.string(),
        "orders__count": pa.int64(),
        "revenue__sum": pa.float64(),
        "revenue__n": pa.int64(),
        "smallest__min": pa.float64(),
        "largest__max": pa.float64(),
        "average__sum": pa.float64(),
        "average__n": pa.int64(),
        "buyers__hll": pa.binary(),
    }


def test_view_without_dimensions():
    state = ViewState(TOTALS)
    for offset in (0, 1, MINUTE - 1, MINUTE, 5 * MINUTE + 3):
        state.apply(purchase(ts=T0 + offset))
    table = state.to_table()
    assert table.column_names == view_columns(TOTALS) == ["bucket", "orders__count"]
    assert sorted(table.to_pylist(), key=lambda r: r["bucket"]) == [
        {"bucket": T0, "orders__count": 3},
        {"bucket": T0 + MINUTE, "orders__count": 1},
        {"bucket": T0 + 5 * MINUTE, "orders__count": 1},
    ]


def test_counts_sums_min_max_and_avg_parts_per_group():
    state = ViewState(REVENUE)
    state.apply(purchase(T0, country="DE", device="web", amount=10, user_id="a"))
    state.apply(purchase(T0 + 59 * MINUTE, country="DE", device="web", amount=2.5, user_id="b"))
    state.apply(purchase(T0 + 1, country="DE", device="web", amount=-4, user_id="a"))
    state.apply(purchase(T0 + 2, country="FR", device="web", amount=1, user_id="c"))
    state.apply(purchase(T0 + HOUR, country="DE", device="web", amount=7, user_id="a"))
    groups = rows_by_group(state)
    assert set(groups) == {(T0, "DE", "web"), (T0, "FR", "web"), (T0 + HOUR, "DE", "web")}
    assert groups[(T0, "DE", "web")] == {
        "orders__count": 3,
        "revenue__sum": 8.5,
        "revenue__n": 3,
        "smallest__min": -4.0,
        "largest__max": 10.0,
        "average__sum": 8.5,
        "average__n": 3,
        "buyers__hll": pytest.approx(2.0),
    }
    assert groups[(T0, "FR", "web")]["orders__count"] == 1
    assert groups[(T0, "FR", "web")]["largest__max"] == 1.0
    assert groups[(T0 + HOUR, "DE", "web")]["revenue__sum"] == 7.0


def test_nulls_and_missing_values_are_ignored_but_counted_as_events():
    state = ViewState(REVENUE)
    state.apply(purchase(country="DE", device="web", amount=None, user_id=None))
    state.apply(purchase(country="DE", device="web"))
    groups = rows_by_group(state)
    assert groups[(T0, "DE", "web")] == {
        "orders__count": 2,
        "revenue__sum": 0.0,
        "revenue__n": 0,
        "smallest__min": None,
        "largest__max": None,
        "average__sum": 0.0,
        "average__n": 0,
        "buyers__hll": 0.0,
    }
    state.apply(purchase(country="DE", device="web", amount=3, user_id="x"))
    group = rows_by_group(state)[(T0, "DE", "web")]
    assert (group["orders__count"], group["revenue__sum"], group["revenue__n"]) == (3, 3.0, 1)
    assert (group["smallest__min"], group["largest__max"]) == (3.0, 3.0)
    assert group["buyers__hll"] == pytest.approx(1.0)


def test_numeric_text_counts_like_spark_try_cast_and_garbage_is_null():
    # ingest refuses these now, but events archived before a view existed may hold them
    state = ViewState(REVENUE)
    state.apply(purchase(country="DE", device="web", amount="2.5"))
    state.apply(purchase(country="DE", device="web", amount="n/a"))
    state.apply(purchase(country="DE", device="web", amount=True))
    group = rows_by_group(state)[(T0, "DE", "web")]
    assert (group["orders__count"], group["revenue__sum"], group["revenue__n"]) == (3, 2.5, 1)


def test_null_and_missing_dimensions_group_together_as_none():
    state = ViewState(REVENUE)
    state.apply(purchase(country=None, device="web", amount=1))
    state.apply(purchase(device="web", amount=2))
    state.apply(purchase(country="None", device="web", amount=4))
    groups = rows_by_group(state)
    assert set(groups) == {(T0, None, "web"), (T0, "None", "web")}
    assert groups[(T0, None, "web")]["revenue__sum"] == 3.0
    assert groups[(T0, "None", "web")]["revenue__sum"] == 4.0
    assert state.to_table().column("country").null_count == 1


def test_dimension_values_are_text_the_java_way():
    state = ViewState(REVENUE)
    state.apply(purchase(country=1, device=True, amount=1))
    state.apply(purchase(country=1.0, device=False, amount=1))
    state.apply(purchase(country="1", device="true", amount=1))
    state.apply(purchase(country=1e20, device="web", amount=1))
    groups = rows_by_group(state)
    assert set(groups) == {
        (T0, "1", "true"),
        (T0, "1.0", "false"),
        (T0, "1.0E20", "web"),
    }
    assert groups[(T0, "1", "true")]["orders__count"] == 2


def test_distinct_values_are_compared_as_text():
    state = ViewState(REVENUE)
    for user in (1, "1", 1.0, True, "true", None):
        state.apply(purchase(country="DE", device="web", user_id=user))
    group = rows_by_group(state)[(T0, "DE", "web")]
    assert group["orders__count"] == 6
    assert round(group["buyers__hll"]) == 3  # "1", "1.0", "true"


def test_distinct_estimate_of_many_users():
    state = ViewState(REVENUE)
    users = 20_000
    for i in range(users * 2):
        state.apply(purchase(country="DE", device="web", user_id=f"user-{i % users}"))
    group = rows_by_group(state)[(T0, "DE", "web")]
    assert group["orders__count"] == users * 2
    assert group["buyers__hll"] == pytest.approx(users, rel=0.03)
