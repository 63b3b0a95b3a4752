"""Event time: RFC 3339 parsing, UTC buckets and their text form."""

import time
from datetime import UTC, datetime

import pytest

from common.model.timeutil import (
    GRANULARITIES,
    GRANULARITY_MS,
    MAX_TS_MS,
    bucket_of,
    format_bucket,
    now_ms,
    parse_rfc3339,
    utc_now_text,
)

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z


def test_granularities_are_ordered_finest_first():
    assert GRANULARITIES == ("minute", "hour", "day")
    assert [GRANULARITY_MS[g] for g in GRANULARITIES] == [60_000, 3_600_000, 86_400_000]


def test_max_ts_is_the_last_millisecond_of_9999():
    end = datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    assert round(end.timestamp() * 1000) == MAX_TS_MS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T17:00:00Z", T0),
        ("2026-01-31t17:00:00z", T0),
        ("  2026-01-31T17:00:00Z  ", T0),
        ("2026-01-31T17:00:00.5Z", T0 + 500),
        ("2026-01-31T17:00:00.123456Z", T0 + 123),
        ("2026-01-31T17:00:00.999999Z", T0 + 999),
        ("2026-02-01T02:00:00+09:00", T0),
        ("2026-01-31T11:00:00-06:00", T0),
        ("2026-01-31 17:00:00+00:00", T0),
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.001Z", 1),
    ],
)
def test_parse_rfc3339(text, expected):
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-01-31T17:00:00", "time zone offset is missing"),
        ("2026-01-31", "expected an RFC 3339 date-time"),
        ("", "expected an RFC 3339 date-time"),
        ("Z", "expected an RFC 3339 date-time"),
        ("2026-13-31T17:00:00Z", "expected an RFC 3339 date-time"),
        ("2026-01-31T25:00:00Z", "expected an RFC 3339 date-time"),
        ("tomorrow at noon", "expected an RFC 3339 date-time"),
    ],
)
def test_parse_rfc3339_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_rfc3339(text)


@pytest.mark.parametrize(
    ("granularity", "ts", "expected"),
    [
        ("minute", T0 + 59_999, T0),
        ("minute", T0 + 60_000, T0 + 60_000),
        ("hour", T0 + 3_599_999, T0),
        ("hour", T0 + 3_600_000, T0 + 3_600_000),
        ("day", T0 + 1, T0 - 17 * 3_600_000),
        ("day", 0, 0),
        ("minute", 1, 0),
    ],
)
def test_bucket_of(granularity, ts, expected):
    assert bucket_of(ts, granularity) == expected


def test_bucket_of_unknown_granularity():
    with pytest.raises(KeyError):
        bucket_of(T0, "week")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (T0, "2026-01-31T17:00:00Z"),
        (T0 + 7, "2026-01-31T17:00:00.007Z"),
        (T0 + 120, "2026-01-31T17:00:00.120Z"),
        (0, "1970-01-01T00:00:00Z"),
        (MAX_TS_MS, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_format_bucket(ms, text):
    assert format_bucket(ms) == text
    assert parse_rfc3339(text) == ms


def test_now_ms_is_the_wall_clock():
    before = int(time.time() * 1000)
    value = now_ms()
    after = int(time.time() * 1000)
    assert before - 1 <= value <= after + 1


def test_utc_now_text_parses_back():
    text = utc_now_text()
    assert text.endswith("Z")
    assert abs(parse_rfc3339(text) - now_ms()) < 5_000
