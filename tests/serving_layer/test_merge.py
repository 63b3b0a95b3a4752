"""The merge: state files (batch and speed) combined by DuckDB into answer rows.

State files are built with the speed layer's ViewState, the same way both layers store them,
and every answer is compared with a plain-Python computation from the events themselves.
"""

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.model.events import Event
from common.model.sketches import distinct_estimate
from common.model.timeutil import GRANULARITY_MS, format_bucket, parse_rfc3339
from common.model.values import text_of
from common.model.views import parse_catalog
from serving_layer.merge import ESTIMATE_ORDER_ROWS, merge, reduce_states
from serving_layer.query_spec import QueryError
from speed_layer.view_state import ViewState
from tests.support.shop_views import purchase_view, spec_of

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z
MINUTE = 60_000
HOUR = 3_600_000

CATALOG = parse_catalog(
    {
        "views": [
            purchase_view("sales", "minute", ["country", "device"]),
            purchase_view(
                "totals", "hour", None, {"orders": "count", "revenue": {"sum": "amount"}}
            ),
        ]
    }
)
SALES = CATALOG.get("sales")
TOTALS = CATALOG.get("totals")


def make_events(count=800, seed=7, users=40, span_ms=3 * HOUR):
    rng = random.Random(seed)
    events = []
    for i in range(count):
        props = {
            "country": rng.choice(["DE", "FR", "US", None]),
            "device": rng.choice(["web", "app"]),
            # multiples of 1/4 add up exactly in any order
            "amount": rng.choice([None, rng.randint(-40, 400) / 4]),
            "user_id": f"user-{rng.randrange(users)}",
        }
        if rng.random() < 0.05:
            del props["country"]
        if rng.random() < 0.05:
            props["user_id"] = None
        events.append(Event(f"e{i}", "purchase", T0 + rng.randrange(span_ms), props))
    return events


def state_file(path, view, events):
    state = ViewState(view)
    for event in events:
        state.apply(event)
    pq.write_table(state.to_table(), path)
    return path


def query(files, view=SALES, **params):
    spec = spec_of(view, **params)
    return merge(duckdb.connect(), spec, files).rows


def expected_rows(
    events,
    *,
    view=SALES,
    granularity=None,
    tz=None,
    group_by=None,
    metrics=None,
    filters=(),
    start=None,
    end=None,
):
    """The answer computed directly from the events."""
    dims = view.dimensions if group_by is None else group_by
    wanted: dict[str, set[str]] = {}
    for item in filters:
        dimension, _, value = item.partition(":")
        wanted.setdefault(dimension, set()).add(value)
    groups = {}
    for event in events:
        bucket, text = bucket_of(event.ts, granularity or view.granularity, tz)
        values = {d: text_of(event.props.get(d)) for d in view.dimensions}
        if any(values[d] not in allowed for d, allowed in wanted.items()):
            continue
        if (start is not None and bucket < start) or (end is not None and bucket >= end):
            continue
        group = groups.setdefault(
            (bucket, text, *(values[d] for d in dims)), {"count": 0, "amounts": [], "users": set()}
        )
        group["count"] += 1
        if event.props.get("amount") is not None:
            group["amounts"].append(float(event.props["amount"]))
        if event.props.get("user_id") is not None:
            group["users"].add(text_of(event.props["user_id"]))
    rows = []
    for key, group in groups.items():
        row = {"bucket": key[1], **dict(zip(dims, key[2:], strict=True))}
        amounts = group["amounts"]
        for metric in view.metrics:
            if metrics is not None and metric.name not in metrics:
                continue
            row[metric.name] = {
                "count": group["count"],
                "sum": sum(amounts) if amounts else None,
                "min": min(amounts, default=None),
                "max": max(amounts, default=None),
                "avg": sum(amounts) / len(amounts) if amounts else None,
                "distinct": len(group["users"]),
            }[metric.kind]
        rows.append(row)
    return sort_rows(rows, dims)


def bucket_of(ts, granularity, tz=None):
    """The start (ms) and text of the bucket holding ``ts``: UTC arithmetic, or the local
    midnight that begins its day, ISO week (Monday) or month, by zoneinfo."""
    if tz is None and granularity in GRANULARITY_MS:
        start = ts - ts % GRANULARITY_MS[granularity]
        return start, format_bucket(start)
    zone = ZoneInfo(tz or "UTC")
    day = datetime.fromtimestamp(ts / 1000, zone).date()
    if granularity == "week":
        day -= timedelta(days=day.weekday())
    if granularity == "month":
        day = day.replace(day=1)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    text = midnight.isoformat() if tz else midnight.strftime("%Y-%m-%dT%H:%M:%SZ")
    return int(midnight.timestamp() * 1000), text


def sort_rows(rows, dims):
    """Bucket, then dimensions (nulls last); independent of the order the engine chose."""
    return sorted(rows, key=lambda r: (r["bucket"], *((r[d] is None, r[d] or "") for d in dims)))


def split(events, parts, seed=3):
    rng = random.Random(seed)
    pieces = [[] for _ in range(parts)]
    for event in events:
        pieces[rng.randrange(parts)].append(event)
    return pieces


@pytest.fixture(scope="module")
def events():
    return make_events()


@pytest.fixture
def one_file(tmp_path, events):
    return [state_file(tmp_path / "all.parquet", SALES, events)]


@pytest.fixture
def two_files(tmp_path, events):
    batch, speed = split(events, 2)
    return [
        state_file(tmp_path / "batch.parquet", SALES, batch),
        state_file(tmp_path / "speed.parquet", SALES, speed),
    ]


# -- the answer matches the events ------------------------------------------------------


def test_one_file_answers_like_the_events(events, one_file):
    rows = query(one_file)
    assert len(rows) > 100
    assert sort_rows(rows, SALES.dimensions) == expected_rows(events)


def test_two_files_give_exactly_the_rows_of_one(events, one_file, two_files):
    merged = query(two_files)
    assert merged == query(one_file)
    assert sort_rows(merged, SALES.dimensions) == expected_rows(events)


def test_split_by_time_with_shared_buckets(tmp_path, events):
    ordered = sorted(events, key=lambda e: e.ts)
    cut = len(ordered) // 2
    files = [
        state_file(tmp_path / "old.parquet", SALES, ordered[:cut]),
        state_file(tmp_path / "new.parquet", SALES, ordered[cut:]),
    ]
    whole = [state_file(tmp_path / "whole.parquet", SALES, ordered)]
    assert query(files) == query(whole)
    assert query(files, granularity="hour") == query(whole, granularity="hour")


def test_many_files_and_an_empty_one(tmp_path, events, one_file):
    files = [
        state_file(tmp_path / f"part-{i}.parquet", SALES, p) for i, p in enumerate(split(events, 5))
    ]
    files.append(state_file(tmp_path / "empty.parquet", SALES, []))
    assert query(files) == query(one_file)


def test_no_files_no_rows():
    assert query([]) == []


def test_rows_have_bucket_dimensions_then_metrics(two_files):
    row = query(two_files)[0]
    assert list(row) == [
        "bucket",
        "country",
        "device",
        "orders",
        "revenue",
        "smallest",
        "largest",
        "average",
        "buyers",
    ]
    assert isinstance(row["orders"], int)
    assert isinstance(row["buyers"], int)
    assert row["bucket"].endswith(":00Z")


# -- roll-up, grouping, filters, time range, limit --------------------------------------


@pytest.mark.parametrize("granularity", ["hour", "day"])
def test_roll_up_to_a_coarser_granularity(events, two_files, granularity):
    rows = query(two_files, granularity=granularity)
    expected = expected_rows(events, granularity=granularity)
    assert sort_rows(rows, SALES.dimensions) == expected
    buckets = {r["bucket"] for r in rows}
    assert buckets == (
        {"2026-01-31T17:00:00Z", "2026-01-31T18:00:00Z", "2026-01-31T19:00:00Z"}
        if granularity == "hour"
        else {"2026-01-31T00:00:00Z"}
    )
    assert sum(r["orders"] for r in rows) == len(events)


@pytest.mark.parametrize("group_by", ["country", "device", "device,country", ""])
def test_group_by_subset(events, two_files, group_by):
    dims = tuple(d for d in SALES.dimensions if d in group_by.split(","))
    rows = query(two_files, group_by=group_by, granularity="hour")
    metrics = [m.name for m in SALES.metrics]
    assert all(list(r) == ["bucket", *dims, *metrics] for r in rows)
    assert sort_rows(rows, dims) == expected_rows(events, granularity="hour", group_by=dims)


def test_no_dimensions_totals_per_bucket(events, two_files):
    rows = query(two_files, group_by="", granularity="day")
    assert len(rows) == 1
    assert rows[0]["orders"] == len(events)
    amounts = [e.props["amount"] for e in events if e.props.get("amount") is not None]
    assert rows[0]["revenue"] == sum(amounts)
    assert rows[0]["smallest"] == min(amounts)
    assert rows[0]["largest"] == max(amounts)


def test_filters_same_dimension_or_other_dimension_and(events, two_files):
    filters = ["country:DE", "device:web", "country:FR"]
    rows = query(two_files, filters=filters)
    assert rows
    assert {r["country"] for r in rows} == {"DE", "FR"}
    assert {r["device"] for r in rows} == {"web"}
    assert sort_rows(rows, SALES.dimensions) == expected_rows(events, filters=filters)


def test_filter_on_a_dimension_not_grouped(events, two_files):
    rows = query(two_files, filters=["country:US"], group_by="device", granularity="hour")
    expected = expected_rows(
        events, filters=["country:US"], group_by=("device",), granularity="hour"
    )
    assert sort_rows(rows, ("device",)) == expected
    total_us = sum(1 for e in events if e.props.get("country") == "US")
    assert sum(r["orders"] for r in rows) == total_us


def test_filter_value_that_matches_nothing(two_files):
    assert query(two_files, filters=["country:XX"]) == []


def test_start_and_end_on_bucket_time(events, two_files):
    start, end = T0 + 10 * MINUTE, T0 + 20 * MINUTE
    rows = query(two_files, start=format_bucket(start), end=format_bucket(end))
    assert {r["bucket"] for r in rows} == {format_bucket(start + i * MINUTE) for i in range(10)}
    assert sort_rows(rows, SALES.dimensions) == expected_rows(events, start=start, end=end)


def test_start_and_end_inside_a_bucket(events, two_files):
    # start 17:10:30 excludes the 17:10 bucket; end 17:20:30 includes the 17:20 bucket
    rows = query(two_files, start="2026-01-31T17:10:30Z", end="2026-01-31T17:20:30Z")
    buckets = sorted({r["bucket"] for r in rows})
    assert buckets[0] == "2026-01-31T17:11:00Z"
    assert buckets[-1] == "2026-01-31T17:20:00Z"
    assert sort_rows(rows, SALES.dimensions) == expected_rows(
        events, start=T0 + 10 * MINUTE + 30_000, end=T0 + 20 * MINUTE + 30_000
    )


def test_start_and_end_with_roll_up_apply_to_the_rolled_bucket(events, two_files):
    # the 17:00 hour starts before 17:30, so it is out; the 18:00 hour starts before 18:30, so in
    rows = query(
        two_files, granularity="hour", start="2026-01-31T17:30:00Z", end="2026-01-31T18:30:00Z"
    )
    assert {r["bucket"] for r in rows} == {"2026-01-31T18:00:00Z"}
    assert sort_rows(rows, SALES.dimensions) == expected_rows(
        events, granularity="hour", start=T0 + HOUR // 2, end=T0 + 3 * HOUR // 2
    )
    hour_18 = sum(1 for e in events if T0 + HOUR <= e.ts < T0 + 2 * HOUR)
    assert sum(r["orders"] for r in rows) == hour_18


def test_start_after_end_is_empty(two_files):
    assert query(two_files, start="2026-01-31T18:00:00Z", end="2026-01-31T17:00:00Z") == []


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_limit_keeps_the_first_rows(two_files, limit):
    everything = query(two_files)
    assert query(two_files, limit=limit) == everything[:limit]


def test_rows_are_ordered_by_bucket_then_dimensions(tmp_path):
    rng = random.Random(11)
    events = [
        Event(
            f"o{i}",
            "purchase",
            T0 + rng.randrange(30 * MINUTE),
            {"country": rng.choice(["US", "DE", "FR"]), "device": rng.choice(["web", "app"])},
        )
        for i in range(300)
    ]
    batch, speed = split(events, 2)
    files = [
        state_file(tmp_path / "b.parquet", SALES, batch),
        state_file(tmp_path / "s.parquet", SALES, speed),
    ]
    rows = query(files)
    keys = [(r["bucket"], r["country"], r["device"]) for r in rows]
    assert len(keys) > 30
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    rows = query(files, group_by="device")
    keys = [(r["bucket"], r["device"]) for r in rows]
    assert keys == sorted(keys)


# -- metric semantics ---------------------------------------------------------------------


def test_null_and_missing_dimension_groups_as_null(tmp_path):
    events = [
        Event("a", "purchase", T0, {"device": "web", "amount": 1}),
        Event("b", "purchase", T0, {"country": None, "device": "web", "amount": 2}),
        Event("c", "purchase", T0, {"country": "DE", "device": "web", "amount": 4}),
    ]
    rows = query([state_file(tmp_path / "n.parquet", SALES, events)])
    by_country = {r["country"]: r for r in rows}
    assert set(by_country) == {None, "DE"}
    assert by_country[None]["orders"] == 2
    assert by_country[None]["revenue"] == 3.0


def test_sum_of_only_nulls_is_null(tmp_path):
    batch = [
        Event("a", "purchase", T0, {"country": "DE", "device": "web", "amount": None}),
        Event("b", "purchase", T0, {"country": "DE", "device": "web"}),
    ]
    speed = [Event("c", "purchase", T0 + 1, {"country": "DE", "device": "web"})]
    files = [
        state_file(tmp_path / "b.parquet", SALES, batch),
        state_file(tmp_path / "s.parquet", SALES, speed),
    ]
    (row,) = query(files)
    assert row == {
        "bucket": "2026-01-31T17:00:00Z",
        "country": "DE",
        "device": "web",
        "orders": 3,
        "revenue": None,
        "smallest": None,
        "largest": None,
        "average": None,
        "buyers": 0,
    }


def test_a_zero_sum_is_zero_not_null(tmp_path):
    events = [
        Event("a", "purchase", T0, {"country": "DE", "device": "web", "amount": 2.5}),
        Event("b", "purchase", T0, {"country": "DE", "device": "web", "amount": -2.5}),
    ]
    nulls = [Event("c", "purchase", T0, {"country": "DE", "device": "web", "amount": None})]
    files = [
        state_file(tmp_path / "b.parquet", SALES, events),
        state_file(tmp_path / "s.parquet", SALES, nulls),
    ]
    (row,) = query(files)
    assert row["revenue"] == 0.0
    assert row["average"] == 0.0
    assert (row["smallest"], row["largest"]) == (-2.5, 2.5)


def test_nulls_in_one_file_do_not_hide_values_in_the_other(tmp_path):
    with_values = [Event("a", "purchase", T0, {"country": "DE", "device": "web", "amount": 7})]
    only_nulls = [Event("b", "purchase", T0, {"country": "DE", "device": "web", "amount": None})]
    files = [
        state_file(tmp_path / "b.parquet", SALES, only_nulls),
        state_file(tmp_path / "s.parquet", SALES, with_values),
    ]
    (row,) = query(files)
    assert (row["orders"], row["revenue"], row["smallest"], row["largest"], row["average"]) == (
        2,
        7.0,
        7.0,
        7.0,
        7.0,
    )


def test_avg_is_weighted_across_files_and_buckets(tmp_path):
    batch = [
        Event(
            f"b{i}",
            "purchase",
            T0 + i * MINUTE,
            {"country": "DE", "device": "web", "amount": amount},
        )
        for i, amount in enumerate([1, 2, 3])
    ]
    speed = [
        Event("s", "purchase", T0 + 2 * MINUTE, {"country": "DE", "device": "web", "amount": 10})
    ]
    files = [
        state_file(tmp_path / "b.parquet", SALES, batch),
        state_file(tmp_path / "s.parquet", SALES, speed),
    ]
    (row,) = query(files, granularity="hour")
    assert row["average"] == 4.0  # (1 + 2 + 3 + 10) / 4, not an average of averages
    assert row["revenue"] == 16.0
    assert row["orders"] == 4
    minute_rows = query(files)
    assert [r["average"] for r in minute_rows] == [1.0, 2.0, 6.5]


def test_view_without_dimensions(tmp_path, events):
    files = [
        state_file(tmp_path / f"t{i}.parquet", TOTALS, part)
        for i, part in enumerate(split(events, 2))
    ]
    rows = query(files, view=TOTALS)
    assert sort_rows(rows, ()) == expected_rows(events, view=TOTALS)
    assert [r["bucket"] for r in rows] == sorted(r["bucket"] for r in rows)
    assert list(rows[0]) == ["bucket", "orders", "revenue"]


# -- distinct counts ------------------------------------------------------------------------


def _users(tmp_path, name, users, ts=T0):
    events = [
        Event(f"{name}-{u}", "purchase", ts, {"country": "DE", "device": "web", "user_id": u})
        for u in users
    ]
    return state_file(tmp_path / f"{name}.parquet", SALES, events)


def test_distinct_union_across_files_within_3_percent(tmp_path):
    files = [
        _users(tmp_path, "batch", [f"u{i}" for i in range(0, 30_000)]),
        _users(tmp_path, "speed", [f"u{i}" for i in range(20_000, 50_000)]),
    ]
    (row,) = query(files)
    assert row["orders"] == 60_000
    assert row["buyers"] == pytest.approx(50_000, rel=0.03)


def test_distinct_union_across_buckets_within_3_percent(tmp_path):
    rng = random.Random(5)
    events = [
        Event(
            f"e{i}",
            "purchase",
            T0 + rng.randrange(HOUR),
            {"country": "DE", "device": "web", "user_id": f"user-{rng.randrange(8_000)}"},
        )
        for i in range(40_000)
    ]
    true_distinct = len({e.props["user_id"] for e in events})
    files = [
        state_file(tmp_path / f"{i}.parquet", SALES, part)
        for i, part in enumerate(split(events, 2))
    ]
    (row,) = query(files, granularity="hour")
    assert row["buyers"] == pytest.approx(true_distinct, rel=0.03)
    per_minute = query(files)
    assert len(per_minute) == 60
    for minute_row in per_minute:
        start = T0 + (int(minute_row["bucket"][14:16])) * MINUTE
        users = {e.props["user_id"] for e in events if start <= e.ts < start + MINUTE}
        assert minute_row["buyers"] == pytest.approx(len(users), rel=0.03)


def test_distinct_of_identical_sets_is_not_doubled(tmp_path):
    users = [f"u{i}" for i in range(3_000)]
    files = [_users(tmp_path, "a", users), _users(tmp_path, "b", users)]
    (row,) = query(files)
    assert row["buyers"] == pytest.approx(3_000, rel=0.03)


def test_distinct_estimate_of_nothing():
    assert distinct_estimate(None) == 0
    assert distinct_estimate([]) == 0


# -- a batch side reduced once, merged with the speed side on every query ------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"granularity": "hour"},
        {"granularity": "day", "group_by": ""},
        {"group_by": "device", "filters": ["country:DE", "country:US"]},
        {"filters": ["device:app"], "group_by": "country", "granularity": "hour"},
        {"start": "2026-01-31T17:30:00Z", "end": "2026-01-31T19:00:00Z"},
        {"start": "2026-01-31T17:30:30Z", "granularity": "hour"},
        {"limit": 7},
        {"granularity": "week"},
        {"granularity": "month", "tz": "Europe/Amsterdam", "group_by": "country"},
        {"granularity": "day", "tz": "Asia/Kolkata", "start": "2026-01-31T20:00:00Z"},
        {"metrics": "buyers,orders", "order_by": "-buyers", "limit": 5},
        {"order_by": "-revenue,country", "limit": 9, "group_by": "country,device"},
        {"metrics": "average", "order_by": "bucket,-average"},
    ],
)
def test_a_reduced_batch_side_merges_like_the_batch_files(events, two_files, params):
    batch_file, speed_file = two_files
    connection = duckdb.connect()
    spec = spec_of(SALES, **params)
    reduced = reduce_states(connection, spec, [batch_file])
    assert merge(connection, spec, [speed_file], [reduced]) == merge(
        connection, spec, [batch_file, speed_file]
    )
    assert merge(connection, spec, [], [reduced]) == merge(connection, spec, [batch_file])


def test_a_reduced_batch_side_holds_one_sketch_per_group(events, two_files):
    connection = duckdb.connect()
    spec = spec_of(SALES, granularity="day", group_by="")
    reduced = reduce_states(connection, spec, [two_files[0]])
    assert reduced.num_rows == 1
    assert reduced.column("buyers__hll").type == pa.binary()
    merged = merge(connection, spec, [two_files[1]], [reduced]).rows
    expected = expected_rows(events, granularity="day", group_by=())
    assert merged[0]["orders"] == expected[0]["orders"]
    assert abs(merged[0]["buyers"] - expected[0]["buyers"]) <= 0.03 * expected[0]["buyers"]


# -- weeks, months and time zones ------------------------------------------------------------


def hourly(first, hours, **props):
    """One purchase per hour from ``first`` (RFC 3339), ``amount`` its hour number."""
    start = parse_rfc3339(first)
    return [
        Event(f"h{first}-{i}", "purchase", start + i * HOUR, {"amount": i, **props})
        for i in range(hours)
    ]


@pytest.mark.parametrize("granularity", ["week", "month"])
def test_weeks_and_months_across_a_year_end(tmp_path, granularity):
    events = make_events(count=1500, span_ms=30 * 24 * HOUR)  # 2026-01-31 onwards
    rng = random.Random(2)
    year_end = parse_rfc3339("2026-12-20T00:00:00Z")
    events += [
        Event(f"y{i}", "purchase", year_end + rng.randrange(25 * 24 * HOUR), {"country": "NL"})
        for i in range(500)
    ]
    files = [
        state_file(tmp_path / f"{i}.parquet", SALES, part)
        for i, part in enumerate(split(events, 2))
    ]
    rows = query(files, granularity=granularity, group_by="country")
    assert sort_rows(rows, ("country",)) == expected_rows(
        events, granularity=granularity, group_by=("country",)
    )
    buckets = sorted({r["bucket"] for r in rows if r["country"] == "NL"})
    if granularity == "month":
        assert buckets == ["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"]
    else:
        assert buckets == [f"{d}T00:00:00Z" for d in ("2026-12-14", "2026-12-21", "2026-12-28")] + [
            "2027-01-04T00:00:00Z",
            "2027-01-11T00:00:00Z",
        ]
    assert sum(r["orders"] for r in rows) == len(events)


@pytest.fixture
def dst_files(tmp_path):
    """An hour view (TOTALS) of one purchase per UTC hour over both of Amsterdam's 2026
    changes of clock: a batch file and a speed file, shared out at random."""
    events = hourly("2026-03-16T00:00:00Z", 21 * 24) + hourly("2026-10-12T00:00:00Z", 21 * 24)
    batch, speed = split(events, 2)
    files = [
        state_file(tmp_path / "batch.parquet", TOTALS, batch),
        state_file(tmp_path / "speed.parquet", TOTALS, speed),
    ]
    return events, files


def test_local_days_of_23_and_25_hours_in_amsterdam(dst_files):
    events, files = dst_files
    rows = query(files, view=TOTALS, granularity="day", tz="Europe/Amsterdam")
    assert rows == expected_rows(events, view=TOTALS, granularity="day", tz="Europe/Amsterdam")
    by_day = {r["bucket"]: r["orders"] for r in rows}
    assert by_day["2026-03-28T00:00:00+01:00"] == 24
    assert by_day["2026-03-29T00:00:00+01:00"] == 23  # clocks go forward at 02:00
    assert by_day["2026-03-30T00:00:00+02:00"] == 24
    assert by_day["2026-10-25T00:00:00+02:00"] == 25  # and back at 03:00
    assert by_day["2026-10-26T00:00:00+01:00"] == 24
    assert sum(by_day.values()) == len(events)


def test_local_weeks_and_months_in_amsterdam(dst_files):
    events, files = dst_files
    for granularity in ("week", "month"):
        rows = query(files, view=TOTALS, granularity=granularity, tz="Europe/Amsterdam")
        assert rows == expected_rows(
            events, view=TOTALS, granularity=granularity, tz="Europe/Amsterdam"
        )
    weeks = {
        r["bucket"]: r["orders"]
        for r in query(files, view=TOTALS, granularity="week", tz="Europe/Amsterdam")
    }
    assert weeks["2026-03-23T00:00:00+01:00"] == 7 * 24 - 1
    assert weeks["2026-10-19T00:00:00+02:00"] == 7 * 24 + 1


def test_local_days_select_by_their_start(dst_files):
    events, files = dst_files
    start, end = "2026-03-28T12:00:00+01:00", "2026-10-25T00:00:00+02:00"
    rows = query(files, view=TOTALS, granularity="day", tz="Europe/Amsterdam", start=start, end=end)
    assert rows[0]["bucket"] == "2026-03-29T00:00:00+01:00"  # the 28th began before start
    assert rows[-1]["bucket"] == "2026-10-24T00:00:00+02:00"  # end is exclusive
    assert rows == expected_rows(
        events,
        view=TOTALS,
        granularity="day",
        tz="Europe/Amsterdam",
        start=parse_rfc3339("2026-03-28T23:00:00Z"),
        end=parse_rfc3339(end),
    )


def test_kolkata_days_from_minute_buckets(tmp_path, events):
    files = [state_file(tmp_path / "m.parquet", SALES, events)]
    rows = query(files, granularity="day", tz="Asia/Kolkata", group_by="device")
    assert rows == expected_rows(events, granularity="day", tz="Asia/Kolkata", group_by=("device",))
    # 17:00-20:00 UTC on 2026-01-31 is 22:30 that day to 01:30 the next in Kolkata
    assert {r["bucket"] for r in rows} == {"2026-01-31T00:00:00+05:30", "2026-02-01T00:00:00+05:30"}


# -- metrics asked for ------------------------------------------------------------------------


def test_a_subset_of_metrics(events, two_files):
    rows = query(two_files, metrics="buyers,revenue", granularity="hour")
    assert all(list(r) == ["bucket", "country", "device", "revenue", "buyers"] for r in rows)
    everything = query(two_files, granularity="hour")
    assert rows == [
        {k: r[k] for k in ("bucket", "country", "device", "revenue", "buyers")} for r in everything
    ]
    expected = expected_rows(events, granularity="hour", metrics=("revenue", "buyers"))
    assert [
        {k: v for k, v in r.items() if k != "buyers"} for r in sort_rows(rows, SALES.dimensions)
    ] == [{k: v for k, v in r.items() if k != "buyers"} for r in expected]


def test_a_reduced_side_keeps_only_the_metrics_asked_for(two_files):
    spec = spec_of(SALES, metrics="orders,buyers")
    reduced = reduce_states(duckdb.connect(), spec, [two_files[0]])
    assert reduced.column_names == ["bucket", "country", "device", "orders__count", "buyers__hll"]


# -- order_by ---------------------------------------------------------------------------------


def ordered(rows, *keys):
    """``rows`` (in the default order) sorted by ``keys`` (``-`` descending), nulls last."""
    rows = list(rows)
    for key in reversed(keys):
        name, descending = key.removeprefix("-"), key.startswith("-")
        present = [r for r in rows if r[name] is not None]
        absent = [r for r in rows if r[name] is None]
        rows = sorted(present, key=lambda r, n=name: r[n], reverse=descending) + absent
    return rows


@pytest.mark.parametrize(
    "order_by",
    [
        "-orders",
        "revenue",
        "-revenue,country",
        "-average",
        "device,-smallest",
        "-bucket",
        "-country",
    ],
)
def test_order_by_orders_every_row_like_python(events, two_files, order_by):
    params = {"granularity": "hour", "metrics": "orders,revenue,smallest,average"}
    rows = query(two_files, order_by=order_by, **params)
    expected = expected_rows(
        events, granularity="hour", metrics=("orders", "revenue", "smallest", "average")
    )
    assert rows == ordered(expected, *order_by.split(","))
    assert len(rows) == len(expected)


def test_ties_keep_the_order_by_bucket_then_dimensions_and_nulls_come_last(tmp_path):
    def buy(i, minute, country, amount):
        props = {"country": country, "device": "web", "amount": amount}
        return Event(f"t{i}", "purchase", T0 + minute * MINUTE, props)

    events = [
        buy(0, 1, "FR", 5),
        buy(1, 0, "FR", 5),  # ties FR's minute 1 on revenue: minute 0 comes first
        buy(2, 0, "DE", 5),  # and DE before FR in the same minute
        buy(3, 0, None, 5),  # and a null country after both
        buy(4, 0, "NL", None),  # a null revenue: last whichever the direction
        buy(5, 0, "US", 9),
    ]
    files = [state_file(tmp_path / "t.parquet", SALES, events)]
    keys = [
        (r["bucket"][14:16], r["country"], r["revenue"]) for r in query(files, order_by="-revenue")
    ]
    assert keys == [
        ("00", "US", 9.0),
        ("00", "DE", 5.0),
        ("00", "FR", 5.0),
        ("00", None, 5.0),
        ("01", "FR", 5.0),
        ("00", "NL", None),
    ]
    keys = [(r["bucket"][14:16], r["country"]) for r in query(files, order_by="revenue")]
    assert keys == [
        ("00", "DE"),
        ("00", "FR"),
        ("00", None),
        ("01", "FR"),
        ("00", "US"),
        ("00", "NL"),
    ]
    keys = [(r["bucket"][14:16], r["country"]) for r in query(files, order_by="-country")]
    assert keys == [
        ("00", "US"),
        ("00", "NL"),
        ("00", "FR"),
        ("01", "FR"),
        ("00", "DE"),
        ("00", None),
    ]


def test_an_overflowed_sum_orders_as_the_null_it_answers(tmp_path):
    events = [
        Event("a", "purchase", T0, {"country": "NL", "device": "web", "amount": 1.5e308}),
        Event("b", "purchase", T0, {"country": "NL", "device": "web", "amount": 1.5e308}),
        Event("c", "purchase", T0, {"country": "DE", "device": "web", "amount": 3}),
        Event("d", "purchase", T0, {"country": "FR", "device": "web", "amount": 5}),
    ]
    files = [state_file(tmp_path / "o.parquet", SALES, events)]
    for order_by, countries in (("-revenue", ["FR", "DE", "NL"]), ("revenue", ["DE", "FR", "NL"])):
        merged = merge(duckdb.connect(), spec_of(SALES, order_by=order_by), files)
        assert [r["country"] for r in merged.rows] == countries
        assert merged.rows[-1]["revenue"] is None
        assert merged.overflowed == {"revenue": 1, "average": 1}


@pytest.mark.parametrize("limit", [1, 2, 3, 4])
def test_order_by_applies_before_limit_and_truncated_says_what_was_cut(events, two_files, limit):
    spec = spec_of(SALES, group_by="country", granularity="day", order_by="-orders", limit=limit)
    merged = merge(duckdb.connect(), spec, two_files)
    everything = ordered(expected_rows(events, granularity="day", group_by=("country",)), "-orders")
    assert len(everything) == 4  # DE, FR, US and null
    assert merged.rows == everything[:limit]
    assert merged.truncated is (limit < 4)


def test_order_by_with_the_row_cap_and_no_limit(events, two_files):
    spec = spec_of(SALES, max_rows=5, order_by="-orders,-revenue")
    merged = merge(duckdb.connect(), spec, two_files)
    assert merged.rows == ordered(expected_rows(events), "-orders", "-revenue")[:5]
    assert merged.truncated is True


def test_order_by_a_distinct_metric_estimates_every_row_first(events, two_files):
    everything = query(two_files, group_by="country", granularity="hour")
    for limit in (None, 3):
        spec = spec_of(
            SALES, group_by="country", granularity="hour", order_by="-buyers,country", limit=limit
        )
        merged = merge(duckdb.connect(), spec, two_files)
        expected = ordered(everything, "-buyers", "country")
        assert merged.rows == (expected if limit is None else expected[:limit])
        assert merged.truncated is (limit is not None)
    exact = {
        (r["bucket"], r["country"]): r["buyers"]
        for r in expected_rows(events, granularity="hour", group_by=("country",))
    }
    for row in everything:
        assert row["buyers"] == pytest.approx(exact[(row["bucket"], row["country"])], rel=0.03)


def test_order_by_a_distinct_metric_over_too_many_rows_is_refused(two_files):
    spec = spec_of(SALES, max_rows=2, order_by="-buyers")  # hundreds of rows, 20 at most
    with pytest.raises(QueryError) as caught:
        merge(duckdb.connect(), spec, two_files)
    assert caught.value.param == "order_by"
    assert f"more than {ESTIMATE_ORDER_ROWS * 2} rows" in caught.value.message
    assert "'buyers'" in caught.value.message
    small = spec_of(SALES, max_rows=2, order_by="-buyers", group_by="", granularity="hour")
    assert len(merge(duckdb.connect(), small, two_files).rows) == 2  # 3 rows: within the bound
