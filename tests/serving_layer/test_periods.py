"""Calendar buckets: ISO weeks, months and local days, their starts, text and time zones,
checked against dates written out by hand and against zoneinfo moment by moment."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from common.model.timeutil import MAX_TS_MS, parse_rfc3339
from serving_layer.periods import (
    DAY_MS,
    QUERY_GRANULARITIES,
    Buckets,
    offset_text,
    unrepresentable_offsets,
    zone_names,
    zone_offsets,
)

HOUR = 3_600_000


def ms(text: str) -> int:
    return parse_rfc3339(text)


def test_granularities_of_a_query_are_the_views_and_weeks_and_months():
    assert QUERY_GRANULARITIES == ("minute", "hour", "day", "week", "month")


@pytest.mark.parametrize(
    ("buckets", "moment", "start", "label"),
    [
        (Buckets("week"), "2026-03-29T23:59:59Z", "2026-03-23T00:00:00Z", "2026-03-23T00:00:00Z"),
        (Buckets("week"), "2026-03-30T00:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:00:00Z"),
        (Buckets("week"), "2027-01-01T12:00:00Z", "2026-12-28T00:00:00Z", "2026-12-28T00:00:00Z"),
        (Buckets("month"), "2026-12-31T23:00:00Z", "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        (Buckets("month"), "2028-02-29T10:00:00Z", "2028-02-01T00:00:00Z", "2028-02-01T00:00:00Z"),
        (
            Buckets("day", "Europe/Amsterdam"),
            "2026-03-29T21:59:00Z",
            "2026-03-28T23:00:00Z",
            "2026-03-29T00:00:00+01:00",
        ),
        (
            Buckets("day", "Europe/Amsterdam"),
            "2026-03-29T22:00:00Z",
            "2026-03-29T22:00:00Z",
            "2026-03-30T00:00:00+02:00",
        ),
        (
            Buckets("day", "Europe/Amsterdam"),
            "2026-10-25T22:30:00Z",
            "2026-10-24T22:00:00Z",
            "2026-10-25T00:00:00+02:00",
        ),
        (
            Buckets("week", "Europe/Amsterdam"),
            "2026-03-29T12:00:00Z",
            "2026-03-22T23:00:00Z",
            "2026-03-23T00:00:00+01:00",
        ),
        (
            Buckets("month", "Asia/Kolkata"),
            "2026-12-31T19:00:00Z",
            "2026-12-31T18:30:00Z",
            "2027-01-01T00:00:00+05:30",
        ),
        (
            Buckets("day", "America/Los_Angeles"),
            "2026-03-08T07:59:00Z",
            "2026-03-07T08:00:00Z",
            "2026-03-07T00:00:00-08:00",
        ),
    ],
)
def test_the_bucket_of_a_moment_and_its_text(buckets, moment, start, label):
    assert buckets.floor(ms(moment)) == ms(start)
    assert buckets.label(ms(start)) == label
    assert buckets.size is None


def test_fixed_size_buckets_are_arithmetic():
    assert Buckets("hour").size == HOUR
    assert Buckets("day").floor(ms("2026-03-29T21:59:00Z")) == ms("2026-03-29T00:00:00Z")
    assert Buckets("hour").ceiling(ms("2026-03-29T21:59:00Z")) == ms("2026-03-29T22:00:00Z")
    assert Buckets("minute").label(ms("2026-03-29T21:59:00Z")) == "2026-03-29T21:59:00Z"


@pytest.mark.parametrize(
    ("buckets", "moment", "ceiling"),
    [
        (Buckets("week"), "2026-03-23T00:00:00Z", "2026-03-23T00:00:00Z"),
        (Buckets("week"), "2026-03-23T00:00:00.001Z", "2026-03-30T00:00:00Z"),
        (Buckets("month"), "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z"),
        (Buckets("month"), "2027-01-31T00:00:00Z", "2027-02-01T00:00:00Z"),
        (Buckets("day", "Europe/Amsterdam"), "2026-03-29T00:30:00+01:00", "2026-03-29T22:00:00Z"),
        (Buckets("day", "Europe/Amsterdam"), "2026-10-25T00:00:00+02:00", "2026-10-24T22:00:00Z"),
        (Buckets("month", "Europe/Amsterdam"), "2026-10-02T00:00:00Z", "2026-10-31T23:00:00Z"),
    ],
)
def test_the_ceiling_is_the_first_start_at_or_after(buckets, moment, ceiling):
    assert buckets.ceiling(ms(moment)) == ms(ceiling)


@pytest.mark.parametrize(
    "zone", ["Europe/Amsterdam", "America/Havana", "America/Santiago", "America/Goose_Bay"]
)
@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_every_quarter_hour_of_a_year_is_in_the_local_period_it_reads(zone, granularity):
    """Each moment's bucket starts at the latest start at or before it; a start is the first
    moment whose local date begins its period (midnights that happen twice, Havana's in
    November; midnights skipped, Santiago's in September; and Goose Bay's clocks, set back
    at 00:01 to 23:01 until 2010, read a day again after the next one began)."""
    buckets = Buckets(granularity, zone)
    local = ZoneInfo(zone)
    moment = ms("2010-01-01T00:00:00Z" if zone == "America/Goose_Bay" else "2024-01-01T00:00:00Z")
    for _ in range(366 * 24 * 4):
        start = buckets.floor(moment)
        assert start <= moment < buckets.next_start(start)
        begun = datetime.fromtimestamp(start / 1000, local)
        before = datetime.fromtimestamp((start - 1) / 1000, local)
        assert begun.time() <= datetime.min.time().replace(hour=1)  # midnight, or a gap's end
        assert before.date() < begun.date()
        if granularity == "week":
            assert begun.weekday() == 0
        if granularity == "month":
            assert begun.day == 1
        moment += 15 * 60_000


def test_havana_starts_its_day_at_the_first_of_two_midnights():
    # 2024-11-03: clocks go from 01:00 CDT back to 00:00 CST; the day begins at 00:00 CDT
    day = Buckets("day", "America/Havana")
    assert day.floor(ms("2024-11-03T04:30:00Z")) == ms("2024-11-03T00:00:00-04:00")
    assert day.floor(ms("2024-11-03T05:30:00Z")) == ms("2024-11-03T00:00:00-04:00")
    assert day.label(ms("2024-11-03T04:00:00Z")) == "2024-11-03T00:00:00-04:00"
    assert day.next_start(ms("2024-11-03T04:00:00Z")) == ms("2024-11-04T00:00:00-05:00")


def test_santiago_starts_a_day_without_midnight_at_the_end_of_the_gap():
    # 2024-09-08: clocks go from 24:00 -04 to 01:00 -03
    day = Buckets("day", "America/Santiago")
    start = day.floor(ms("2024-09-08T12:00:00Z"))
    assert start == ms("2024-09-08T04:00:00Z")
    assert day.label(start) == "2024-09-08T01:00:00-03:00"


def test_starts_of_utc_days_cover_every_moment_of_them():
    day = Buckets("day", "Europe/Amsterdam")
    first = ms("2026-03-28T00:00:00Z") // DAY_MS
    starts = day.starts([first, first + 1, first + 1])
    assert starts == [
        ms("2026-03-27T23:00:00Z"),
        ms("2026-03-28T23:00:00Z"),
        ms("2026-03-29T22:00:00Z"),
    ]
    assert Buckets("month").starts([first, first + 3]) == [ms("2026-03-01T00:00:00Z")]


@pytest.mark.parametrize(
    ("buckets", "moment", "start", "label"),
    [
        (
            Buckets("day", "Pacific/Kiritimati"),
            MAX_TS_MS,
            ms("9999-12-31T10:00:00Z"),
            "10000-01-01T00:00:00+14:00",
        ),
        (Buckets("month"), MAX_TS_MS, ms("9999-12-01T00:00:00Z"), "9999-12-01T00:00:00Z"),
        (Buckets("week"), ms("0001-01-03T00:00:00Z"), ms("0001-01-01T00:00:00Z"), None),
    ],
)
def test_the_ends_of_the_calendar_move_by_400_year_cycles(buckets, moment, start, label):
    """Instants near year 1 or 9999 (RFC 3339 accepts both) have local dates datetime cannot
    hold; dates and weekdays repeat every 400 years, so they are computed 400 years off."""
    assert buckets.floor(moment) == start
    if label is not None:
        assert buckets.label(start) == label
    assert buckets.ceiling(moment) > moment


def test_the_ceiling_of_the_last_month_is_past_the_last_event():
    assert (
        Buckets("month").ceiling(ms("9999-12-15T00:00:00Z"))
        == ms("9999-12-01T00:00:00Z") + 31 * DAY_MS
    )


# -- time zones ------------------------------------------------------------------------------


def test_zone_offsets_are_every_offset_from_1970_to_2100():
    assert zone_offsets("Asia/Kolkata") == {int(5.5 * HOUR)}
    assert zone_offsets("Europe/Amsterdam") == {HOUR, 2 * HOUR}
    assert zone_offsets("UTC") == {0}
    assert -(44 * 60 + 30) * 1000 in zone_offsets("Africa/Monrovia")  # until 1972


@pytest.mark.parametrize(
    ("zone", "granularity", "unfit"),
    [
        ("Asia/Kolkata", "hour", (int(5.5 * HOUR),)),
        ("Asia/Kolkata", "minute", ()),
        ("Europe/Amsterdam", "hour", ()),
        ("Europe/Amsterdam", "day", (HOUR, 2 * HOUR)),
        ("UTC", "day", ()),
        ("Etc/UTC", "day", ()),
        ("Africa/Monrovia", "minute", (-(44 * 60 + 30) * 1000,)),
    ],
)
def test_offsets_that_no_view_bucket_fits(zone, granularity, unfit):
    assert unrepresentable_offsets(zone, granularity) == unfit


def test_zone_names_are_iana_names_only():
    names = zone_names()
    assert {"Europe/Amsterdam", "UTC", "Etc/UTC", "Asia/Kolkata"} <= names
    assert "localtime" not in names
    assert "Europe" not in names


def test_offset_text():
    assert offset_text(0) == "+00:00"
    assert offset_text(int(5.5 * HOUR)) == "+05:30"
    assert offset_text(-(44 * 60 + 30) * 1000) == "-00:44:30"


def test_a_zoned_label_agrees_with_zoneinfo():
    zone = ZoneInfo("America/New_York")
    buckets = Buckets("day", "America/New_York")
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(400):
        start = buckets.floor(int(moment.timestamp() * 1000))
        local = datetime.fromtimestamp(start / 1000, zone)
        assert buckets.label(start) == local.isoformat()
        moment += timedelta(hours=23)
