"""The buckets of an answer, and the time zones they may follow.

A view keeps fixed-size UTC buckets (``minute``, ``hour``, ``day``). A query rolls them up to
its own: fixed-size UTC ones by arithmetic in SQL, or calendar ones (ISO weeks from Monday,
months, and days, weeks or months in a time zone), whose lengths vary (23- and 25-hour days,
28- to 31-day months). Python's ``zoneinfo`` computes the starts of calendar buckets, once for
all three places that need them: the SQL (``merge`` joins each row to the start of its bucket),
the rounding of ``start`` and ``end``, and the bucket's text with its UTC offset.

Why not DuckDB's ICU functions: checked on duckdb 2.0, ICU's time zone data is not Python's
(they disagree on Bogota in 1992 and Casablanca from 2027, among others), so the rounding of
``start`` and the buckets would follow two calendars; and ICU maps a local midnight that
happens twice (Havana, 2024-11-03) to the later instant, which starts that day an hour after
its first events.
"""

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache, lru_cache

from common.model.timeutil import EPOCH, GRANULARITIES, GRANULARITY_MS

CALENDAR_GRANULARITIES = ("week", "month")
"""Granularities a query may ask for that no view is kept in (views.yaml's are GRANULARITIES)."""
QUERY_GRANULARITIES = (*GRANULARITIES, *CALENDAR_GRANULARITIES)
"""Every granularity of an answer, finest first."""
ZONED_GRANULARITIES = ("day", "week", "month")
"""The granularities whose buckets start at local midnight when the query names a ``tz``."""

DAY_MS = GRANULARITY_MS["day"]
_MS = timedelta(milliseconds=1)
_CYCLE_MS = 146_097 * DAY_MS
"""400 Gregorian years: dates, weekdays and a zone's yearly rules repeat after them."""
_LOW_MS = (datetime(1000, 1, 1, tzinfo=UTC) - EPOCH) // _MS
_HIGH_MS = (datetime(9000, 1, 1, tzinfo=UTC) - EPOCH) // _MS
_OFFSETS_FROM = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSETS_TO = datetime(2100, 1, 1, tzinfo=UTC)


def coarseness(granularity: str) -> int:
    """Where ``granularity`` stands among QUERY_GRANULARITIES (0: the finest)."""
    return QUERY_GRANULARITIES.index(granularity)


@dataclass(frozen=True)
class Buckets:
    """The buckets of an answer: a granularity, in UTC or in the IANA zone ``tz``."""

    granularity: str
    tz: str | None = None

    @property
    def size(self) -> int | None:
        """The length of a bucket in ms; None for calendar buckets, whose lengths vary."""
        if self.tz is None and self.granularity in GRANULARITY_MS:
            return GRANULARITY_MS[self.granularity]
        return None

    @property
    def zone(self) -> tzinfo:
        return UTC if self.tz is None else zoneinfo.ZoneInfo(self.tz)

    def floor(self, ms: int) -> int:
        """The start of the bucket holding the instant ``ms``: the latest bucket start at or
        before it."""
        size = self.size
        if size is not None:
            return ms - ms % size
        local, cycles = _local(ms, self.zone)
        start = _first_instant(self._first_day(local.date()), self.zone, cycles)
        # Clocks set back across midnight (Goose Bay, 1987-2010: at 00:01 to 23:01) read the
        # previous day again after the next one began: such a moment is in the next one.
        while (following := self.next_start(start)) <= ms:
            start = following
        return start

    def ceiling(self, ms: int) -> int:
        """The start of the first bucket that starts at or after ``ms``."""
        start = self.floor(ms)
        return start if start == ms else self.next_start(start)

    def next_start(self, start: int) -> int:
        """The start of the bucket after the one starting at ``start``."""
        size = self.size
        if size is not None:
            return start + size
        local, cycles = _local(start, self.zone)
        day = local.date()
        if self.granularity == "month":
            following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        else:
            following = day + timedelta(days=7 if self.granularity == "week" else 1)
        return _first_instant(following, self.zone, cycles)

    def label(self, start: int) -> str:
        """A bucket's text: its local start and UTC offset (``Z`` without a zone)."""
        local, cycles = _local(start, self.zone)
        text = f"{local.year + 400 * cycles:04d}{local.strftime('-%m-%dT%H:%M:%S')}"
        return text + ("Z" if self.tz is None else offset_text(_offset_ms(local)))

    def starts(self, days: Iterable[int]) -> list[int]:
        """The starts of every bucket that holds a moment of the UTC days ``days`` (days since
        1970-01-01), ascending: what each row of those days is joined to."""
        found: set[int] = set()
        for day in days:
            found.update(_starts_of_day(self, day))
        return sorted(found)

    def _first_day(self, day: date) -> date:
        if self.granularity == "month":
            return day.replace(day=1)
        if self.granularity == "week":
            return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
        return day


@lru_cache(maxsize=65_536)
def _starts_of_day(buckets: Buckets, day: int) -> tuple[int, ...]:
    """The starts of the buckets holding a moment of UTC day ``day`` (a day holds at most a
    few: a local day can start twice within one UTC day)."""
    last = (day + 1) * DAY_MS - 1
    starts = [buckets.floor(day * DAY_MS)]
    while (following := buckets.next_start(starts[-1])) <= last:
        starts.append(following)
    return tuple(starts)


def _local(ms: int, zone: tzinfo) -> tuple[datetime, int]:
    """The local time of the instant ``ms``, moved by whole 400-year cycles into the years
    datetime can hold: (time, cycles taken off). Dates and a zone's rules repeat over a
    cycle (zoneinfo follows the zone's last rule into the future, its first offset into the
    past), so the moved time has the same date parts and offset but for the year."""
    if ms >= _HIGH_MS:
        cycles = (ms - _HIGH_MS) // _CYCLE_MS + 1
    elif ms < _LOW_MS:
        cycles = (ms - _LOW_MS) // _CYCLE_MS
    else:
        cycles = 0
    return (EPOCH + timedelta(milliseconds=ms - cycles * _CYCLE_MS)).astimezone(zone), cycles


def _first_instant(day: date, zone: tzinfo, cycles: int) -> int:
    """The first instant of local ``day`` (moved by ``cycles``): its midnight, the earlier one
    when clocks pass midnight twice, the end of the gap when they skip it (``fold=0``)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    return (midnight - EPOCH) // _MS + cycles * _CYCLE_MS


def _offset_ms(local: datetime) -> int:
    return (local.utcoffset() or timedelta(0)) // _MS


# -- time zones ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA zones zoneinfo knows (``localtime`` is this machine's, not a zone name)."""
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


@cache  # one entry per zone name at most: only known names get here
def zone_offsets(name: str) -> frozenset[int]:
    """Every UTC offset (ms) zone ``name`` uses from 1970 to 2100, sampled daily (no zone keeps
    an offset for less than a day; after 2100 zoneinfo repeats the zone's last rule)."""
    zone = zoneinfo.ZoneInfo(name)
    offsets = set()
    moment = _OFFSETS_FROM
    while moment < _OFFSETS_TO:
        offsets.add(_offset_ms(moment.astimezone(zone)))
        moment += timedelta(days=1)
    return frozenset(offsets)


@cache  # per (zone, view granularity): both come from fixed small sets
def unrepresentable_offsets(name: str, view_granularity: str) -> tuple[int, ...]:
    """The offsets of zone ``name`` that are no whole number of the view's buckets, ascending:
    where they apply, a local midnight falls inside a view's bucket, which cannot be split."""
    size = GRANULARITY_MS[view_granularity]
    return tuple(sorted(o for o in zone_offsets(name) if o % size))


def offset_text(offset_ms: int) -> str:
    """An offset as ``+05:30`` (``-00:44:30`` with seconds: only messages show those, a bucket's
    offset being whole minutes)."""
    sign = "-" if offset_ms < 0 else "+"
    seconds = abs(offset_ms) // 1000
    text = f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
    return text + (f":{seconds % 60:02d}" if seconds % 60 else "")
