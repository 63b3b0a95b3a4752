"""Event time: parsing, UTC buckets and their text form."""

from datetime import UTC, datetime, timedelta

GRANULARITY_MS: dict[str, int] = {
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
}
GRANULARITIES: tuple[str, ...] = tuple(GRANULARITY_MS)

# Epoch milliseconds accepted for `ts`: years 1970 to 9999.
MAX_TS_MS = 253_402_300_799_999
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 timestamp with an explicit offset into epoch milliseconds."""
    candidate = text.strip()
    if candidate[-1:] in ("Z", "z"):
        candidate = candidate[:-1] + "+00:00"
    if "T" not in candidate and "t" not in candidate and " " not in candidate:
        raise ValueError("expected an RFC 3339 date-time such as 2026-01-31T17:00:00Z")
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise ValueError("expected an RFC 3339 date-time such as 2026-01-31T17:00:00Z") from exc
    if parsed.tzinfo is None:
        raise ValueError("the time zone offset is missing (add Z or +00:00)")
    return (parsed - EPOCH) // timedelta(milliseconds=1)


def bucket_of(ts_ms: int, granularity: str) -> int:
    """The start, in epoch ms, of the UTC bucket holding ``ts_ms``."""
    size = GRANULARITY_MS[granularity]
    return ts_ms - ts_ms % size


def format_bucket(bucket_ms: int) -> str:
    """Epoch ms as ``2026-01-31T17:00:00Z`` (milliseconds shown only when present)."""
    moment = datetime.fromtimestamp(bucket_ms / 1000, tz=UTC)
    if bucket_ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{bucket_ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def utc_text(moment: datetime) -> str:
    """A UTC time as RFC 3339 text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now_text() -> str:
    """The current UTC time as RFC 3339 text."""
    return utc_text(datetime.now(tz=UTC))
