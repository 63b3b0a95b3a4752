"""A parsed, validated view query (the parameters of GET /views/{name})."""

from dataclasses import dataclass

from common.errors import LambdaError
from common.model.timeutil import GRANULARITIES, GRANULARITY_MS, parse_rfc3339
from common.model.views import View

SOURCES = ("merged", "batch", "speed")


class QueryError(LambdaError):
    """A query parameter is invalid; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class QuerySpec:
    """What to answer: the time range, the roll-up, the grouping, the filters and the source."""

    view: View
    granularity: str
    group_by: tuple[str, ...]
    filters: dict[str, tuple[str, ...]]
    start_ms: int | None
    end_ms: int | None
    source: str
    limit: int | None
    max_rows: int

    @property
    def bucket_size(self) -> int:
        return GRANULARITY_MS[self.granularity]

    @property
    def row_cap(self) -> int:
        """The most rows the answer holds: the limit, or ``LAMBDA_SERVING_MAX_ROWS``."""
        return self.max_rows if self.limit is None else self.limit


def parse_query(
    view: View,
    *,
    start: str | None,
    end: str | None,
    granularity: str | None,
    group_by: str | None,
    filters: list[str],
    source: str | None,
    limit: int | None,
    max_rows: int,
) -> QuerySpec:
    """Validate the raw parameters against the view; raise QueryError naming the bad one.

    ``start`` and ``end`` select buckets by their time (start inclusive, end exclusive), so
    each is rounded up to the bucket it selects from: every start within one bucket is one
    query (and one cache entry)."""
    rolled_up = _granularity(view, granularity)
    size = GRANULARITY_MS[rolled_up]
    return QuerySpec(
        view=view,
        granularity=rolled_up,
        group_by=_group_by(view, group_by),
        filters=_filters(view, filters),
        start_ms=bucket_ceiling(_time("start", start), size),
        end_ms=bucket_ceiling(_time("end", end), size),
        source=_source(source),
        limit=_limit(limit, max_rows),
        max_rows=max_rows,
    )


def bucket_ceiling(ms: int | None, size: int) -> int | None:
    """The time of the first bucket (of ``size`` ms) that starts at or after ``ms``."""
    return None if ms is None else -(-ms // size) * size


def _granularity(view: View, raw: str | None) -> str:
    if raw is None:
        return view.granularity
    if raw not in GRANULARITIES:
        raise QueryError("granularity", f"must be one of {', '.join(GRANULARITIES)}, got {raw!r}")
    if GRANULARITY_MS[raw] < GRANULARITY_MS[view.granularity]:
        raise QueryError(
            "granularity",
            f"view {view.name} is kept per {view.granularity}; ask for {view.granularity} "
            f"or coarser, not {raw}",
        )
    return raw


def _group_by(view: View, raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return view.dimensions
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in view.dimensions]
    if unknown:
        raise QueryError(
            "group_by",
            f"{unknown[0]!r} is not a dimension of {view.name} "
            f"(dimensions: {', '.join(view.dimensions) or 'none'})",
        )
    if len(set(names)) != len(names):
        raise QueryError("group_by", "a dimension is listed twice")
    return tuple(d for d in view.dimensions if d in names)


def _filters(view: View, raw: list[str]) -> dict[str, tuple[str, ...]]:
    filters: dict[str, list[str]] = {}
    for item in raw:
        dimension, colon, value = item.partition(":")
        if not colon:
            raise QueryError("filter", f"expected dimension:value, got {item!r}")
        if dimension not in view.dimensions:
            raise QueryError(
                "filter",
                f"{dimension!r} is not a dimension of {view.name} "
                f"(dimensions: {', '.join(view.dimensions) or 'none'})",
            )
        filters.setdefault(dimension, []).append(value)
    return {d: tuple(v) for d, v in filters.items()}


def _time(param: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError as exc:
        raise QueryError(param, f"{exc}, got {raw!r}") from exc


def _source(raw: str | None) -> str:
    if raw is None:
        return "merged"
    if raw not in SOURCES:
        raise QueryError("source", f"must be one of {', '.join(SOURCES)}, got {raw!r}")
    return raw


def _limit(raw: int | None, max_rows: int) -> int | None:
    if raw is None:
        return None
    if raw < 1 or raw > max_rows:
        raise QueryError(
            "limit", f"must be between 1 and {max_rows} (LAMBDA_SERVING_MAX_ROWS), got {raw}"
        )
    return raw
