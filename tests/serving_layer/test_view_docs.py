"""The OpenAPI document's per-view parameters say exactly what parse_query accepts."""

import re

import pytest

from common.model.views import Metric, View, parse_catalog
from serving_layer.main import create_app
from serving_layer.periods import QUERY_GRANULARITIES
from serving_layer.query_spec import QueryError
from serving_layer.settings import ServingSettings
from serving_layer.view_docs import view_parameters
from tests.support.shop_views import purchase_view, spec_of

CATALOG = parse_catalog(
    {
        "views": [
            purchase_view("sales", "minute", ["country", "device", "channel"], {"orders": "count"}),
            purchase_view("hourly", "hour", None, {"orders": "count"}),
        ]
    }
)
MAX_ROWS = 1000


def accepted(view, **params) -> bool:
    try:
        spec_of(view, **{"max_rows": MAX_ROWS, **params})
    except QueryError:
        return False
    return True


@pytest.mark.parametrize("view", CATALOG.views, ids=lambda v: v.name)
def test_every_documented_value_is_accepted_and_no_other(view):
    params = view_parameters(view, MAX_ROWS)
    granularities = params["granularity"]["enum"]
    assert [g for g in QUERY_GRANULARITIES if accepted(view, granularity=g)] == granularities
    assert all(accepted(view, group_by=value) for value in params["group_by"]["enum"])
    assert not accepted(view, group_by="bucket")
    assert params["limit"]["minimum"] == 1 and params["limit"]["maximum"] == MAX_ROWS
    assert accepted(view, start="1970-01-01T00:00:00Z", end="9999-12-31T23:59:59.5+01:00")


def test_group_by_lists_every_order_of_every_subset():
    sales = CATALOG.get("sales")
    values = view_parameters(sales, MAX_ROWS)["group_by"]["enum"]
    assert len(values) == 1 + 3 + 6 + 6
    assert "" in values and "channel,country" in values and "device,channel,country" in values


def test_filters_are_documented_only_for_views_with_dimensions():
    sales = view_parameters(CATALOG.get("sales"), MAX_ROWS)
    pattern = re.compile(sales["filter"]["items"]["pattern"])
    for item in ("country:NL", "device:", "channel:a:b"):
        assert pattern.match(item) and accepted(CATALOG.get("sales"), filters=[item])
    assert not pattern.match("countr:NL") and not accepted(CATALOG.get("sales"), filters=["x:1"])
    assert "filter" not in view_parameters(CATALOG.get("hourly"), MAX_ROWS)


def test_the_document_has_a_path_per_view_and_a_template_for_other_names():
    app = create_app(ServingSettings(serving_max_rows=MAX_ROWS), CATALOG)
    paths = app.openapi()["paths"]
    assert {"/views/sales", "/views/hourly", "/views/{name}"} <= set(paths)
    template = paths["/views/{name}"]["get"]
    name = next(p for p in template["parameters"] if p["name"] == "name")
    assert name["schema"]["not"]["enum"] == ["sales", "hourly"]
    assert set(template["responses"]) == {"404", "422"}
    assert {"200", "422", "503"} <= set(paths["/views/sales"]["get"]["responses"])


def test_group_by_of_many_dimensions_is_a_pattern_not_every_order():
    dims = [f"d{i}" for i in range(12)]
    view = purchase_view("wide", "hour", dims)
    schema = view_parameters(parse_catalog({"views": [view]}).views[0], MAX_ROWS)["group_by"]
    assert "enum" not in schema
    assert re.fullmatch(schema["pattern"], "d3,d0,d11")
    assert re.fullmatch(schema["pattern"], "")
    assert not re.fullmatch(schema["pattern"], "d3,bucket")


def test_metrics_order_by_tz_and_quantiles_are_documented_as_accepted():
    sales = CATALOG.get("sales")
    params = view_parameters(sales, MAX_ROWS)
    assert params["metrics"]["enum"] == ["orders"]
    assert not accepted(sales, metrics="")
    pattern = re.compile(params["order_by"]["pattern"])
    for value in ("-orders", "bucket,-country", "channel,device,-orders,-bucket"):
        assert pattern.fullmatch(value) and accepted(sales, order_by=value)
    assert not pattern.fullmatch("revenue") and not accepted(sales, order_by="revenue")
    assert "IANA" in params["tz"]["description"]
    assert accepted(sales, granularity="day", tz="Europe/Amsterdam")
    quantiles = re.compile(params["quantiles"]["pattern"])
    assert quantiles.fullmatch("0.5,0.9,.999") and accepted(sales, quantiles="0.5,0.9,.999")
    assert not quantiles.fullmatch("1.5") and not accepted(sales, quantiles="1.5")


def test_an_unorderable_metric_is_left_out_of_the_order_by_pattern():
    flights = View("flights", "flight", ("origin",), "hour", (Metric("delay", "quantiles", "d"),))
    pattern = re.compile(view_parameters(flights, MAX_ROWS)["order_by"]["pattern"])
    assert pattern.fullmatch("-origin,bucket")
    assert not pattern.fullmatch("delay")
