"""Query parameters of GET /views/{name}: parsed against the view, errors naming the parameter."""

import pytest

from common.model.views import parse_catalog
from serving_layer.query_spec import QueryError
from tests.support.shop_views import purchase_view, spec_of

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z

CATALOG = parse_catalog(
    {
        "views": [
            purchase_view("sales", "minute", ["country", "device", "channel"], {"orders": "count"}),
            purchase_view("hourly", "hour", None, {"orders": "count"}),
        ]
    }
)
SALES = CATALOG.get("sales")
HOURLY = CATALOG.get("hourly")


def parse(view=SALES, **params):
    return spec_of(view, **{"max_rows": 1000, **params})


def error(view=SALES, **params) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse(view, **params)
    return info.value


def test_defaults():
    spec = parse()
    assert spec.view is SALES
    assert spec.granularity == "minute"
    assert spec.bucket_size == 60_000
    assert spec.group_by == ("country", "device", "channel")
    assert spec.filters == {}
    assert spec.start_ms is None
    assert spec.end_ms is None
    assert spec.source == "merged"
    assert spec.limit is None


# -- granularity ------------------------------------------------------------------------


@pytest.mark.parametrize(("granularity", "size"), [("minute", 60_000), ("hour", 3_600_000)])
def test_own_or_coarser_granularity(granularity, size):
    spec = parse(granularity=granularity)
    assert spec.granularity == granularity
    assert spec.bucket_size == size
    assert parse(HOURLY, granularity="day").bucket_size == 86_400_000


def test_finer_granularity_is_refused():
    problem = error(HOURLY, granularity="minute")
    assert problem.param == "granularity"
    assert "hour or coarser" in problem.message


@pytest.mark.parametrize("granularity", ["week", "Minute", "", "60"])
def test_unknown_granularity(granularity):
    problem = error(granularity=granularity)
    assert problem.param == "granularity"
    assert "minute, hour, day" in problem.message
    assert str(problem) == problem.message


# -- group_by ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("channel,country", ("country", "channel")),
        ("device", ("device",)),
        (" channel , device ", ("device", "channel")),
        ("channel,device,country", ("country", "device", "channel")),
        ("", ()),
        ("country,", ("country",)),
    ],
)
def test_group_by_subset_follows_the_view_order(group_by, expected):
    assert parse(group_by=group_by).group_by == expected


@pytest.mark.parametrize("group_by", ["city", "country,city", "Country", "orders", "bucket"])
def test_group_by_unknown_dimension(group_by):
    problem = error(group_by=group_by)
    assert problem.param == "group_by"
    assert "is not a dimension of sales" in problem.message


def test_group_by_on_a_view_without_dimensions():
    problem = error(HOURLY, group_by="country")
    assert problem.param == "group_by"
    assert "dimensions: none" in problem.message
    assert parse(HOURLY).group_by == ()


def test_group_by_twice():
    problem = error(group_by="country,device,country")
    assert problem.param == "group_by"
    assert "listed twice" in problem.message


# -- filter -----------------------------------------------------------------------------


def test_filters_repeat_and_collect_per_dimension():
    spec = parse(filters=["country:DE", "device:web", "country:FR", "channel:a:b", "device:"])
    assert spec.filters == {
        "country": ("DE", "FR"),
        "device": ("web", ""),
        "channel": ("a:b",),
    }


@pytest.mark.parametrize("item", ["country", "countryDE", ""])
def test_filter_without_colon(item):
    problem = error(filters=["device:web", item])
    assert problem.param == "filter"
    assert "dimension:value" in problem.message


@pytest.mark.parametrize("item", ["city:Paris", ":DE", "Country:DE", "orders:1"])
def test_filter_on_unknown_dimension(item):
    problem = error(filters=[item])
    assert problem.param == "filter"
    assert "is not a dimension of sales" in problem.message


# -- start / end ------------------------------------------------------------------------


def test_start_and_end():
    spec = parse(start="2026-01-31T17:00:00Z", end="2026-01-31T18:30:00+01:00")
    assert spec.start_ms == T0
    assert spec.end_ms == T0 + 30 * 60_000


@pytest.mark.parametrize("param", ["start", "end"])
@pytest.mark.parametrize("value", ["2026-01-31T17:00:00", "2026-01-31", "now", ""])
def test_bad_time(param, value):
    problem = error(**{param: value})
    assert problem.param == param
    assert repr(value) in problem.message


# -- source -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["merged", "batch", "speed"])
def test_sources(source):
    assert parse(source=source).source == source


@pytest.mark.parametrize("source", ["both", "Batch", ""])
def test_bad_source(source):
    problem = error(source=source)
    assert problem.param == "source"
    assert "merged, batch, speed" in problem.message


# -- limit ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 10, 1000])
def test_limit(limit):
    assert parse(limit=limit).limit == limit


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_bad_limit(limit):
    problem = error(limit=limit)
    assert problem.param == "limit"
    assert "between 1 and 1000" in problem.message
