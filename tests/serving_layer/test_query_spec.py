"""Query parameters of GET /views/{name}: parsed against the view, errors naming the parameter."""

import pytest

from common.model.sketches import quantile_name
from common.model.timeutil import parse_rfc3339
from common.model.views import Metric, View, parse_catalog
from serving_layer.query_spec import OrderKey, QueryError
from tests.support.shop_views import purchase_view, spec_of

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z

CATALOG = parse_catalog(
    {
        "views": [
            purchase_view("sales", "minute", ["country", "device", "channel"], {"orders": "count"}),
            purchase_view("hourly", "hour", None, {"orders": "count"}),
            purchase_view("daily", "day", None, {"orders": "count"}),
            purchase_view("shop", "hour", ["country"]),  # every metric kind
        ]
    }
)
SALES = CATALOG.get("sales")
HOURLY = CATALOG.get("hourly")
DAILY = CATALOG.get("daily")
SHOP = CATALOG.get("shop")


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
    assert spec.tz is None
    assert spec.metrics == SALES.metrics
    assert spec.order_by == ()
    assert spec.quantiles == (0.5, 0.9, 0.99)


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


@pytest.mark.parametrize("granularity", ["year", "Week", "Minute", "", "60"])
def test_unknown_granularity(granularity):
    problem = error(granularity=granularity)
    assert problem.param == "granularity"
    assert "minute, hour, day, week, month" in problem.message
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


# -- week and month ---------------------------------------------------------------------


@pytest.mark.parametrize("view", [SALES, HOURLY, DAILY], ids=lambda v: v.granularity)
@pytest.mark.parametrize("granularity", ["week", "month"])
def test_weeks_and_months_roll_up_any_view(view, granularity):
    spec = parse(view, granularity=granularity)
    assert spec.granularity == granularity
    assert spec.bucket_size is None  # their lengths vary


def test_start_and_end_round_to_week_and_month_starts():
    week = parse(granularity="week", start="2026-03-25T12:00:00Z", end="2026-03-30T00:00:00Z")
    assert week.start_ms == parse_rfc3339("2026-03-30T00:00:00Z")  # the Monday after
    assert week.end_ms == parse_rfc3339("2026-03-30T00:00:00Z")  # on a start: kept
    month = parse(granularity="month", start="2026-12-15T00:00:00Z", end="2027-02-01T00:00:01Z")
    assert month.start_ms == parse_rfc3339("2027-01-01T00:00:00Z")
    assert month.end_ms == parse_rfc3339("2027-03-01T00:00:00Z")


def test_start_and_end_round_to_local_midnights():
    spec = parse(
        granularity="day",
        tz="Europe/Amsterdam",
        start="2026-03-29T00:30:00+01:00",
        end="2026-10-25T00:00:00+02:00",
    )
    assert spec.start_ms == parse_rfc3339("2026-03-30T00:00:00+02:00")  # after the 23-hour day
    assert spec.end_ms == parse_rfc3339("2026-10-25T00:00:00+02:00")


# -- tz ---------------------------------------------------------------------------------


def test_a_zone_for_days_weeks_and_months():
    for granularity in ("day", "week", "month"):
        spec = parse(granularity=granularity, tz="Asia/Kolkata")
        assert spec.tz == "Asia/Kolkata"
        assert spec.bucket_size is None
    assert parse(HOURLY, granularity="day", tz="Europe/Amsterdam").tz == "Europe/Amsterdam"


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Etc/GMT", "Atlantic/Reykjavik"])
def test_a_zone_that_keeps_utc_answers_as_utc(zone):
    spec = parse(DAILY, tz=zone)
    assert spec.tz is None
    assert spec.bucket_size == 86_400_000


@pytest.mark.parametrize(
    ("zone", "hint"),
    [
        ("Mars/Olympus", ""),
        ("europe/amsterdam", "did you mean Europe/Amsterdam?"),
        ("Europe", ""),
        ("localtime", ""),
        ("../../etc/passwd", ""),
        ("", ""),
        ("CET ", ""),
    ],
)
def test_an_unknown_zone(zone, hint):
    problem = error(granularity="day", tz=zone)
    assert problem.param == "tz"
    assert f"{zone!r} is not an IANA time zone" in problem.message
    assert hint in problem.message


@pytest.mark.parametrize("granularity", ["minute", "hour"])
def test_a_zone_for_minutes_or_hours_is_refused(granularity):
    problem = error(granularity=granularity, tz="Europe/Amsterdam")
    assert problem.param == "tz"
    assert "a day or coarser" in problem.message
    assert f"granularity is {granularity}" in problem.message
    assert error(HOURLY, tz="UTC").param == "tz"  # the view's own hours


def test_an_hour_view_cannot_make_up_kolkata_days():
    problem = error(HOURLY, granularity="day", tz="Asia/Kolkata")
    assert problem.param == "tz"
    assert "view hourly's hour buckets" in problem.message
    assert "UTC+05:30" in problem.message
    assert "a view kept per minute could answer it" in problem.message
    assert parse(SALES, granularity="day", tz="Asia/Kolkata").tz == "Asia/Kolkata"


def test_a_day_view_can_follow_no_zone_but_utc():
    problem = error(DAILY, tz="Europe/Amsterdam")
    assert problem.param == "tz"
    assert "UTC+01:00" in problem.message
    assert "a view kept per hour could answer it" in problem.message
    assert "a view kept per minute" in error(DAILY, tz="Asia/Kathmandu").message  # +05:45


def test_a_minute_view_cannot_follow_a_zone_with_seconds_in_its_offset():
    problem = error(granularity="day", tz="Africa/Monrovia")  # -00:44:30 until 1972
    assert problem.param == "tz"
    assert "UTC-00:44:30" in problem.message
    assert "could answer it" not in problem.message


# -- metrics ----------------------------------------------------------------------------


def test_metrics_default_to_all_and_a_subset_keeps_the_view_order():
    assert [m.name for m in parse(SHOP).metrics] == [m.name for m in SHOP.metrics]
    spec = parse(SHOP, metrics="buyers, orders,")
    assert [m.name for m in spec.metrics] == ["orders", "buyers"]


@pytest.mark.parametrize("metrics", ["visits", "orders,Orders", "country", "bucket"])
def test_an_unknown_metric(metrics):
    problem = error(SHOP, metrics=metrics)
    assert problem.param == "metrics"
    assert "is not a metric of shop" in problem.message
    assert "orders, revenue, smallest, largest, average, buyers" in problem.message


def test_a_metric_twice_or_none():
    assert "listed twice" in error(SHOP, metrics="orders,buyers,orders").message
    problem = error(SHOP, metrics=" , ")
    assert problem.param == "metrics"
    assert "at least one metric of shop" in problem.message


# -- order_by ---------------------------------------------------------------------------


def test_order_by_names_columns_of_the_answer():
    spec = parse(SHOP, order_by="-revenue, country,bucket,-buyers")
    assert spec.order_by == (
        OrderKey("revenue", True),
        OrderKey("country", False),
        OrderKey("bucket", False),
        OrderKey("buyers", True),
    )
    assert parse(SHOP).order_by == ()
    assert parse(SHOP, order_by="").order_by == ()


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"order_by": "visits"}, "'visits' is not a column of the answer of shop (columns: "),
        ({"order_by": "-"}, "expected a name after '-'"),
        ({"order_by": "country", "group_by": ""}, "'country' is not grouped by"),
        ({"order_by": "revenue", "metrics": "orders"}, "'revenue' is not among the metrics"),
        ({"order_by": "orders,-orders"}, "a name is listed twice"),
        ({"order_by": "+orders"}, "'+orders' is not a column"),
    ],
)
def test_order_by_what_the_answer_does_not_hold(params, reason):
    problem = error(SHOP, **params)
    assert problem.param == "order_by"
    assert reason in problem.message


@pytest.mark.parametrize("kind", ["quantiles", "top"])
def test_order_by_a_metric_that_is_no_number_is_refused(kind):
    view = View("flights", "flight", ("origin",), "hour", (Metric("delay", kind, "dep_delay"),))
    problem = error(view, order_by="-delay")
    assert problem.param == "order_by"
    assert f"'delay' is a {kind} metric, whose answer is not a number" in problem.message
    assert parse(view, order_by="origin,-bucket").order_by == (
        OrderKey("origin", False),
        OrderKey("bucket", True),
    )


# -- quantiles --------------------------------------------------------------------------


def test_quantiles_default_and_in_the_order_asked():
    assert parse().quantiles == (0.5, 0.9, 0.99)
    assert parse(quantiles="0.999, 0.5,.25").quantiles == (0.999, 0.5, 0.25)


@pytest.mark.parametrize(
    ("fraction", "name"),
    [
        (0.5, "p50"),
        (0.9, "p90"),
        (0.99, "p99"),
        (0.999, "p99.9"),
        (0.9999, "p99.99"),
        (0.001, "p0.1"),
        (0.125, "p12.5"),
        (0.1, "p10"),
        (0.3, "p30"),
        (1e-05, "p0.001"),
    ],
)
def test_a_quantile_is_named_by_its_percentage(fraction, name):
    assert quantile_name(fraction) == name


@pytest.mark.parametrize(
    "item", ["0", "1", "1.0", "1.5", "-0.1", "half", "nan", "inf", "0x0.8", "5e-1", ".0", "0.9" * 9]
)
def test_a_quantile_not_strictly_between_0_and_1(item):
    problem = error(quantiles=f"0.5,{item}")
    assert problem.param == "quantiles"
    assert "between 0 and 1 (exclusive) in decimal digits" in problem.message
    assert f"got {item!r}" in problem.message


def test_quantiles_twice_none_or_too_many():
    assert parse(quantiles="0.5,0.9,0.50").quantiles == (0.5, 0.9)  # answered once
    assert "at least one fraction" in error(quantiles=",").message
    many = ",".join(f"0.{i:02d}" for i in range(1, 22))
    problem = error(quantiles=many)
    assert problem.param == "quantiles"
    assert "at most 20 fractions, got 21" in problem.message
