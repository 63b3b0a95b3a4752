"""A parsed, validated view query (the parameters of GET /views/{name})."""

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from common.errors import LambdaError
from common.model.sketches import quantile_name
from common.model.timeutil import GRANULARITIES, parse_rfc3339
from common.model.views import Metric, View
from serving_layer.periods import (
    QUERY_GRANULARITIES,
    ZONED_GRANULARITIES,
    Buckets,
    coarseness,
    offset_text,
    unrepresentable_offsets,
    zone_names,
    zone_offsets,
)

SOURCES = ("merged", "batch", "speed")
UNORDERABLE_KINDS = frozenset({"quantiles", "top"})
"""Metric kinds whose answer is not a number (an object of quantiles, a list of values): rows
cannot be ordered by them."""
DEFAULT_QUANTILES = (0.5, 0.9, 0.99)
MAX_QUANTILES = 20
FRACTION = r"0?\.[0-9]{0,14}[1-9]0{0,5}"
"""A fraction the quantiles parameter takes (and its schema says): decimal digits only, at most 15
up to the last that is not 0, so none reads as 0 or 1 as a float."""


class QueryError(LambdaError):
    """A query parameter is invalid; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


class OrderKey(NamedTuple):
    """One item of ``order_by``: a metric, a dimension or ``bucket``, and its direction."""

    name: str
    descending: bool


@dataclass(frozen=True)
class QuerySpec:
    """What to answer: the time range, the roll-up (in a time zone or UTC), the grouping, the
    filters, the metrics and their order, and the source."""

    view: View
    granularity: str
    tz: str | None
    group_by: tuple[str, ...]
    filters: dict[str, tuple[str, ...]]
    metrics: tuple[Metric, ...]
    order_by: tuple[OrderKey, ...]
    quantiles: tuple[float, ...]
    start_ms: int | None
    end_ms: int | None
    source: str
    limit: int | None
    max_rows: int

    @property
    def buckets(self) -> Buckets:
        return Buckets(self.granularity, self.tz)

    @property
    def bucket_size(self) -> int | None:
        """The answer's bucket length in ms; None for calendar buckets (see ``periods``)."""
        return self.buckets.size

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
    metrics: str | None,
    order_by: str | None,
    tz: str | None,
    quantiles: str | None,
) -> QuerySpec:
    """Validate the raw parameters against the view; raise QueryError naming the bad one.

    ``start`` and ``end`` select buckets by their time (start inclusive, end exclusive), so
    each is rounded up to the bucket it selects from: every start within one bucket is one
    query (and one cache entry)."""
    rolled_up = _granularity(view, granularity)
    zone = _tz(view, rolled_up, tz)
    buckets = Buckets(rolled_up, zone)
    grouped = _group_by(view, group_by)
    chosen = _metrics(view, metrics)
    return QuerySpec(
        view=view,
        granularity=rolled_up,
        tz=zone,
        group_by=grouped,
        filters=_filters(view, filters),
        metrics=chosen,
        order_by=_order_by(view, grouped, chosen, order_by),
        quantiles=_quantiles(quantiles),
        start_ms=bucket_ceiling(_time("start", start), buckets),
        end_ms=bucket_ceiling(_time("end", end), buckets),
        source=_source(source),
        limit=_limit(limit, max_rows),
        max_rows=max_rows,
    )


def bucket_ceiling(ms: int | None, buckets: Buckets) -> int | None:
    """The start of the first bucket that starts at or after ``ms``."""
    return None if ms is None else buckets.ceiling(ms)


def _granularity(view: View, raw: str | None) -> str:
    if raw is None:
        return view.granularity
    if raw not in QUERY_GRANULARITIES:
        raise QueryError(
            "granularity", f"must be one of {', '.join(QUERY_GRANULARITIES)}, got {raw!r}"
        )
    if coarseness(raw) < coarseness(view.granularity):
        raise QueryError(
            "granularity",
            f"view {view.name} is kept per {view.granularity}; ask for {view.granularity} "
            f"or coarser, not {raw}",
        )
    return raw


def _tz(view: View, granularity: str, raw: str | None) -> str | None:
    """The zone of the answer's buckets; None for UTC, and for a zone that kept UTC's time
    all along (``UTC``, ``Etc/UTC``, ...), which answers exactly like UTC (``Z``)."""
    if raw is None:
        return None
    if raw not in zone_names():
        same = [n for n in zone_names() if n.lower() == raw.lower()]
        hint = f" (did you mean {same[0]}?)" if same else ""
        raise QueryError(
            "tz", f"{raw!r} is not an IANA time zone such as Europe/Amsterdam or UTC{hint}"
        )
    if granularity not in ZONED_GRANULARITIES:
        raise QueryError(
            "tz",
            "a time zone applies to buckets of a day or coarser "
            f"({', '.join(ZONED_GRANULARITIES)}), and the answer's granularity is "
            f"{granularity}: add granularity=day, week or month",
        )
    unfit = unrepresentable_offsets(raw, view.granularity)
    if unfit:
        raise QueryError(
            "tz",
            f"{raw}'s days cannot be made of view {view.name}'s {view.granularity} buckets: "
            f"it is at UTC{offset_text(unfit[0])} at times (between 1970 and 2100), which is no "
            f"whole number of {view.granularity}s, so a local midnight falls inside a "
            f"{view.granularity}{_finer_fit(raw, view.granularity)}",
        )
    return None if zone_offsets(raw) == {0} else raw


def _finer_fit(zone: str, granularity: str) -> str:
    """A hint naming the coarsest view granularity finer than ``granularity`` that fits."""
    finer = GRANULARITIES[: GRANULARITIES.index(granularity)]
    fits = [g for g in finer if not unrepresentable_offsets(zone, g)]
    return f"; a view kept per {fits[-1]} could answer it" if fits else ""


def _group_by(view: View, raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return view.dimensions
    names = _names(raw)
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


def _metrics(view: View, raw: str | None) -> tuple[Metric, ...]:
    """The metrics the rows carry, in the view's order (as ``group_by``'s dimensions)."""
    if raw is None:
        return view.metrics
    names = _names(raw)
    known = ", ".join(m.name for m in view.metrics)
    unknown = [n for n in names if _metric(view.metrics, n) is None]
    if unknown:
        raise QueryError("metrics", f"{unknown[0]!r} is not a metric of {view.name} ({known})")
    if len(set(names)) != len(names):
        raise QueryError("metrics", f"a metric is listed twice, in {raw!r}")
    if not names:
        raise QueryError("metrics", f"name at least one metric of {view.name} ({known})")
    return tuple(m for m in view.metrics if m.name in names)


def _order_by(
    view: View, group_by: tuple[str, ...], metrics: tuple[Metric, ...], raw: str | None
) -> tuple[OrderKey, ...]:
    """What the rows are ordered by before the cut at ``limit``: names of the answer's
    columns, ``-`` first for descending."""
    if raw is None:
        return ()
    keys = tuple(OrderKey(n.removeprefix("-").strip(), n.startswith("-")) for n in _names(raw))
    names = [key.name for key in keys]
    for name in names:
        problem = _unorderable(view, group_by, metrics, name)
        if problem:
            raise QueryError("order_by", problem)
    if len(set(names)) != len(names):
        raise QueryError("order_by", f"a name is listed twice, in {raw!r}")
    return keys


def _unorderable(
    view: View, group_by: tuple[str, ...], metrics: tuple[Metric, ...], name: str
) -> str | None:
    """Why the rows cannot be ordered by ``name``; None when they can."""
    metric = _metric(metrics, name)
    if metric is not None and metric.kind in UNORDERABLE_KINDS:
        return (
            f"{name!r} is a {metric.kind} metric, whose answer is not a number: rows "
            "cannot be ordered by it"
        )
    if name == "bucket" or name in group_by or metric is not None:
        return None
    if not name:
        return "expected a name after '-'"
    if name in view.dimensions:
        return f"{name!r} is not grouped by: add it to group_by to order by it"
    if _metric(view.metrics, name) is not None:
        return f"{name!r} is not among the metrics asked for: add it to metrics to order by it"
    columns = ", ".join(["bucket", *group_by, *(m.name for m in metrics)])
    return f"{name!r} is not a column of the answer of {view.name} (columns: {columns})"


def _metric(metrics: tuple[Metric, ...], name: str) -> Metric | None:
    return next((m for m in metrics if m.name == name), None)


def _quantiles(raw: str | None) -> tuple[float, ...]:
    """The fractions a quantiles metric answers, in the order first asked."""
    if raw is None:
        return DEFAULT_QUANTILES
    items = _names(raw)
    if not items:
        raise QueryError("quantiles", "name at least one fraction, such as 0.5,0.9,0.99")
    if len(items) > MAX_QUANTILES:
        raise QueryError("quantiles", f"at most {MAX_QUANTILES} fractions, got {len(items)}")
    # A fraction asked for twice (0.5,0.50) is answered once, under its one name.
    by_name: dict[str, float] = {}
    for item in items:
        fraction = _fraction(item)
        by_name.setdefault(quantile_name(fraction), fraction)
    return tuple(by_name.values())


def _fraction(item: str) -> float:
    fraction = float(item) if re.fullmatch(FRACTION, item) else math.nan
    if not 0 < fraction < 1:  # NaN fails too
        raise QueryError(
            "quantiles",
            f"each must be a fraction between 0 and 1 (exclusive) in decimal digits, such as "
            f"0.5 or .999, got {item!r}",
        )
    return fraction


def _names(raw: str) -> tuple[str, ...]:
    """A comma-separated list, each item stripped, empty items dropped."""
    return tuple(n.strip() for n in raw.split(",") if n.strip())


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
