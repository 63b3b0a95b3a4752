"""The views file: valid catalogs parse, invalid ones fail naming the view and the field."""

from pathlib import Path

import pytest

from common.errors import ViewsError
from common.model.views import Metric, load_catalog, parse_catalog

REPO_VIEWS = Path(__file__).resolve().parents[3] / "views.yaml"


def a_view(**overrides):
    view = {
        "name": "revenue_by_country",
        "event_type": "purchase",
        "dimensions": ["country"],
        "granularity": "hour",
        "metrics": {"orders": "count", "revenue": {"sum": "amount"}},
    }
    view.update(overrides)
    return view


def error_of(*views) -> str:
    with pytest.raises(ViewsError) as info:
        parse_catalog({"views": list(views)}, source="test.yaml")
    return str(info.value)


# -- valid documents -------------------------------------------------------------------


def test_repo_views_file_loads():
    catalog = load_catalog(REPO_VIEWS)
    assert [v.name for v in catalog.views] == [
        "page_views_by_page",
        "revenue_by_country",
        "big_orders_by_country",
    ]
    big = catalog.get("big_orders_by_country")
    assert big is not None and big.where is not None
    assert big.where.spec() == {"country": {"ne": "US"}}
    assert big.describe()["where"] == {"country": {"ne": "US"}}
    assert [m.where.spec() if m.where else None for m in big.metrics] == [
        None,
        {"amount": {"ge": 50}},
        {"amount": {"ge": 50}},
        None,
    ]
    assert big.metrics[-1] == Metric("amounts", "quantiles", "amount")
    pages = catalog.get("page_views_by_page")
    assert pages is not None
    assert pages.event_type == "page_view"
    assert pages.dimensions == ("page",)
    assert pages.granularity == "minute"
    assert pages.metrics == (
        Metric("views", "count", None),
        Metric("visitors", "distinct", "user_id"),
    )
    revenue = catalog.get("revenue_by_country")
    assert revenue is not None
    assert revenue.describe() == {
        "name": "revenue_by_country",
        "event_type": "purchase",
        "dimensions": ["country"],
        "granularity": "hour",
        "metrics": {
            "orders": "count",
            "revenue": "sum",
            "smallest": "min",
            "largest": "max",
            "average": "avg",
            "buyers": "distinct",
        },
    }
    assert catalog.numeric_fields_by_type() == {"page_view": set(), "purchase": {"amount"}}


def test_load_catalog_from_a_file(tmp_path):
    path = tmp_path / "views.yaml"
    path.write_text(
        "views:\n"
        "  - name: clicks\n"
        "    event_type: click.v2\n"
        "    granularity: day\n"
        "    metrics:\n"
        "      clicks: count\n"
        "      spent: {avg: cost}\n"
        "      low: {min: cost}\n"
        "      high: {max: cost}\n"
        "      users: {distinct: user}\n"
    )
    catalog = load_catalog(path)
    (view,) = catalog.views
    assert view.name == "clicks"
    assert view.event_type == "click.v2"
    assert view.dimensions == ()
    assert view.granularity == "day"
    assert [(m.name, m.kind, m.field) for m in view.metrics] == [
        ("clicks", "count", None),
        ("spent", "avg", "cost"),
        ("low", "min", "cost"),
        ("high", "max", "cost"),
        ("users", "distinct", "user"),
    ]
    assert view.numeric_fields() == {"cost"}
    assert [m.spec for m in view.metrics] == [
        "count",
        {"avg": "cost"},
        {"min": "cost"},
        {"max": "cost"},
        {"distinct": "user"},
    ]


def test_several_views_keep_file_order_and_merge_numeric_fields():
    catalog = parse_catalog(
        {
            "views": [
                a_view(name="b_view", metrics={"total": {"sum": "amount"}}),
                a_view(name="a_view", metrics={"top": {"max": "price"}, "n": "count"}),
                a_view(name="c_view", event_type="refund", metrics={"low": {"min": "amount"}}),
            ]
        }
    )
    assert [v.name for v in catalog.views] == ["b_view", "a_view", "c_view"]
    assert catalog.get("missing") is None
    assert catalog.numeric_fields_by_type() == {
        "purchase": {"amount", "price"},
        "refund": {"amount"},
    }


def test_null_dimensions_mean_none():
    catalog = parse_catalog({"views": [a_view(dimensions=None)]})
    assert catalog.views[0].dimensions == ()


# -- invalid documents ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Revenue", "1views", "has-dash", "", None, 7])
def test_bad_name_names_the_view_position_and_field(name):
    message = error_of(a_view(name="first_ok"), a_view(name=name))
    assert "test.yaml" in message
    assert "view #2" in message
    assert "field 'name'" in message
    assert repr(name) in message


@pytest.mark.parametrize("event_type", ["has space", "a" * 101, "", None, 12, "é"])
def test_bad_event_type(event_type):
    message = error_of(a_view(name="shop", event_type=event_type))
    assert "view 'shop'" in message
    assert "field 'event_type'" in message


def test_missing_event_type():
    view = a_view(name="shop")
    del view["event_type"]
    message = error_of(view)
    assert "view 'shop'" in message
    assert "field 'event_type'" in message


@pytest.mark.parametrize("granularity", ["week", "Hour", "second", None, 60])
def test_bad_granularity(granularity):
    message = error_of(a_view(name="shop", granularity=granularity))
    assert "view 'shop'" in message
    assert "field 'granularity'" in message
    assert "minute, hour, day" in message
    assert repr(granularity) in message


@pytest.mark.parametrize(
    "spec",
    [
        {"median": "amount"},
        "sum",
        "distinct",
        {"sum": "amount", "max": "amount"},
        ["count"],
        None,
    ],
)
def test_unknown_metric_kind(spec):
    message = error_of(a_view(name="shop", metrics={"orders": "count", "weird": spec}))
    assert "view 'shop'" in message
    assert "field 'metrics.weird'" in message
    assert repr(spec) in message


@pytest.mark.parametrize("field", [None, "", "has space", "ts", "id", "type", "bucket", 3])
def test_distinct_without_a_usable_field(field):
    message = error_of(a_view(name="shop", metrics={"buyers": {"distinct": field}}))
    assert "view 'shop'" in message
    assert "field 'metrics.buyers'" in message
    assert "distinct needs a property name" in message


def test_sum_without_field():
    message = error_of(a_view(name="shop", metrics={"revenue": {"sum": None}}))
    assert "view 'shop'" in message
    assert "field 'metrics.revenue'" in message


@pytest.mark.parametrize("metric_name", ["bucket", "Orders", "1st"])
def test_bad_metric_name(metric_name):
    message = error_of(a_view(name="shop", metrics={metric_name: "count"}))
    assert "view 'shop'" in message
    assert "field 'metrics'" in message
    assert repr(metric_name) in message


@pytest.mark.parametrize("metrics", [None, {}, ["count"], "count"])
def test_metrics_missing_or_not_a_mapping(metrics):
    message = error_of(a_view(name="shop", metrics=metrics))
    assert "view 'shop'" in message
    assert "field 'metrics'" in message


def test_duplicate_view_names():
    message = error_of(a_view(name="shop"), a_view(name="other"), a_view(name="shop"))
    assert "view 'shop'" in message
    assert "field 'name'" in message
    assert "defined twice" in message


def test_dimension_that_clashes_with_a_metric():
    message = error_of(
        a_view(name="shop", dimensions=["country"], metrics={"country": {"distinct": "x"}})
    )
    assert "view 'shop'" in message
    assert "field 'metrics'" in message
    assert "'country' is also a dimension" in message


@pytest.mark.parametrize(
    "dimensions", [["bucket"], ["ts"], ["id"], ["type"], ["has space"], [3], "country"]
)
def test_unusable_dimension(dimensions):
    message = error_of(a_view(name="shop", dimensions=dimensions))
    assert "view 'shop'" in message
    assert "field 'dimensions'" in message


def test_dimension_listed_twice():
    message = error_of(a_view(name="shop", dimensions=["country", "country"]))
    assert "view 'shop'" in message
    assert "field 'dimensions'" in message
    assert "listed twice" in message


def test_unknown_view_field():
    message = error_of(a_view(name="shop", colour="red"))
    assert "view 'shop'" in message
    assert "field 'colour'" in message
    assert "unknown field" in message


def test_view_not_a_mapping():
    message = error_of(a_view(name="shop"), "just text")
    assert "view #2" in message
    assert "expected a mapping" in message


@pytest.mark.parametrize("document", [None, [], {"views": None}, {"views": {"a": 1}}, "views"])
def test_document_without_a_views_list(document):
    with pytest.raises(ViewsError, match="top-level 'views:' list"):
        parse_catalog(document, source="test.yaml")


def test_empty_views_list():
    with pytest.raises(ViewsError, match="'views' is empty"):
        parse_catalog({"views": []}, source="test.yaml")


def test_unreadable_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ViewsError) as info:
        load_catalog(missing)
    assert "cannot read views file" in str(info.value)
    assert str(missing) in str(info.value)
    with pytest.raises(ViewsError, match="cannot read views file"):
        load_catalog(tmp_path)  # a directory


def test_invalid_yaml(tmp_path):
    path = tmp_path / "views.yaml"
    path.write_text("views:\n  - name: [unclosed\n")
    with pytest.raises(ViewsError) as info:
        load_catalog(path)
    assert "is not valid YAML" in str(info.value)
    assert str(path) in str(info.value)


def test_error_from_a_file_names_the_file_view_and_field(tmp_path):
    path = tmp_path / "views.yaml"
    path.write_text(
        "views:\n"
        "  - name: shop\n"
        "    event_type: purchase\n"
        "    granularity: hour\n"
        "    metrics:\n"
        "      revenue: {total: amount}\n"
    )
    with pytest.raises(ViewsError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message.startswith(f"{path}: view 'shop': field 'metrics.revenue':")


# -- where and the metric forms -----------------------------------------------------------


def test_a_metric_where_follows_either_mapping_form():
    short = {"sum": "amount", "where": {"amount": {"gt": 1}}}
    long = {"kind": "sum", "field": "amount", "where": {"amount": {"gt": 1}}}
    a = parse_catalog({"views": [a_view(metrics={"m": short})]}).views[0].metrics[0]
    b = parse_catalog({"views": [a_view(metrics={"m": long})]}).views[0].metrics[0]
    assert a == b and a.where is not None
    assert a.spec == {"kind": "sum", "field": "amount", "where": {"amount": {"gt": 1}}}
    counted = {"kind": "count", "where": {"amount": {"gt": 1}}}
    metric = parse_catalog({"views": [a_view(metrics={"m": counted})]}).views[0].metrics[0]
    assert (metric.kind, metric.field) == ("count", None)


def test_where_changes_the_fingerprint_and_its_absence_does_not():
    plain = parse_catalog({"views": [a_view()]}).views[0]
    assert plain.definition()["metrics"]["revenue"] == ["sum", "amount"]  # as before `where`
    filtered = parse_catalog({"views": [a_view(where={"country": "NL"})]}).views[0]
    metric_filtered = parse_catalog(
        {"views": [a_view(metrics={"orders": {"kind": "count", "where": {"x": 1}}})]}
    ).views[0]
    prints = {plain.fingerprint(), filtered.fingerprint(), metric_filtered.fingerprint()}
    assert len(prints) == 3


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        ({"kind": "median", "field": "x"}, "field 'metrics.m': unknown kind 'median'"),
        ({"kind": "count", "field": "x"}, "field 'metrics.m': count reads no field"),
        ({"sum": "x", "max": "y"}, "field 'metrics.m': expected one kind"),
        ({"sum": "x", "k": 5}, "field 'metrics.m': unknown option 'k' for sum"),
        ({"sum": "x", "where": {"x": {"near": 1}}}, "field 'metrics.m.where.x': unknown operator"),
        ({"kind": "sum"}, "field 'metrics.m': sum needs a property name"),
        ({"quantiles": "x", "k": 3}, "field 'metrics.m.k': expected a whole number from 8 to"),
        ({"quantiles": "x", "k": True}, "field 'metrics.m.k': expected a whole number"),
    ],
)
def test_an_invalid_metric_names_the_view_the_metric_and_the_reason(metric, reason):
    message = error_of(a_view(metrics={"m": metric}))
    assert message.startswith("test.yaml: view 'revenue_by_country': ")
    assert reason in message


def test_an_invalid_view_where_names_the_view():
    message = error_of(a_view(where={"country": {"ne": None}}))
    assert "view 'revenue_by_country': field 'where.country.ne': null never compares" in message
