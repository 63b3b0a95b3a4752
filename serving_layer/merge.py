"""The merge: batch and speed states combined in DuckDB, distinct counts unioned as sketches."""

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import hll_union

from common.model.metric_kinds import BUCKET_COLUMN, KINDS, StateColumn, state_columns
from common.model.sketches import HLL_LG_K, distinct_estimate, quantiles_of
from common.model.views import Metric, View
from common.storage.lake_files import duckdb_reading
from common.storage.state_tables import partial_sql, quote, union_sketch_lists
from serving_layer.deadline import Deadline
from serving_layer.periods import DAY_MS
from serving_layer.query_spec import OrderKey, QueryError, QuerySpec


class Merged(NamedTuple):
    """An answer's rows, whether the query had more than it returns (cut at
    ``spec.row_cap``), and per metric the rows whose value left the range of a float64."""

    rows: list[dict[str, Any]]
    truncated: bool
    overflowed: dict[str, int]


def merge(
    connection: duckdb.DuckDBPyConnection,
    spec: QuerySpec,
    files: list[Path],
    reduced: Sequence[pa.Table] = (),
    deadline: Deadline | None = None,
) -> Merged:
    """Answer ``spec`` from state files of one view and tables already reduced by
    :func:`reduce_states` for the same spec (the batch side): at most ``spec.row_cap`` rows,
    in ``spec.order_by``'s order (then by bucket and dimensions)."""
    if not files and not reduced:
        return Merged([], truncated=False, overflowed={})
    # One registered table however many parts (registering costs about 0.5 ms a table).
    tables = [pa.concat_tables(reduced, promote_options="permissive")] if reduced else []
    source, params = _parts(spec, files, len(tables))
    cursor = connection.cursor()
    try:
        for index, table in enumerate(tables):
            cursor.register(f"reduced_{index}", table)
        with _running(deadline, cursor), duckdb_reading(files):
            roll = _roll(cursor, spec, source, params)
            sql = _sql(spec, source, roll)
            answer, overflowed = _null_non_finite(cursor.sql(sql, params=params).to_arrow_table())
    finally:
        cursor.close()
    if _orders_by_estimate(spec):
        rows, truncated = _ordered_in_python(spec, answer, deadline)
    else:
        # The query asks for one row past the cap: there were more when it is there.
        truncated = answer.num_rows > spec.row_cap
        # Arrow's to_pylist builds the row dicts in C++, several times faster than Python.
        rows = answer.slice(0, spec.row_cap).to_pylist()
        _estimate(spec, rows)
    return Merged(rows, truncated, overflowed)


ESTIMATE_ORDER_ROWS = 10
"""Ordering by a distinct metric (estimated in Python from its sketches, after the SQL) reads
every row of the answer, up to this many times ``LAMBDA_SERVING_MAX_ROWS``, and cuts it at the
row cap in Python; a query with more rows answers 422."""


def _orders_by_estimate(spec: QuerySpec) -> bool:
    estimated = {m.name for m in spec.metrics if KINDS[m.kind].estimated}
    return any(key.name in estimated for key in spec.order_by)


def _ordered_in_python(
    spec: QuerySpec, answer: pa.Table, deadline: Deadline | None
) -> tuple[list[dict[str, Any]], bool]:
    """The rows of ``answer`` (all of them, in the default order) estimated, ordered by
    ``spec.order_by`` and cut at the row cap; and whether there were more."""
    bound = ESTIMATE_ORDER_ROWS * spec.max_rows
    if answer.num_rows > bound:
        name = next(k.name for k in spec.order_by if _is_estimated(spec, k.name))
        raise QueryError(
            "order_by",
            f"ordering by the distinct metric {name!r} estimates it in every row before the cut "
            f"at limit, and this query has more than {bound} rows ({ESTIMATE_ORDER_ROWS} times "
            "LAMBDA_SERVING_MAX_ROWS): narrow it with start, end, filter or group_by, or ask "
            "for a coarser granularity",
        )
    rows: list[dict[str, Any]] = answer.to_pylist()
    _estimate(spec, rows)
    if deadline is not None:
        deadline.check()
    for key in reversed(spec.order_by):  # stable sorts, the last key first
        rows.sort(key=partial(_sort_key, key), reverse=key.descending)
    return rows[: spec.row_cap], len(rows) > spec.row_cap


def _is_estimated(spec: QuerySpec, name: str) -> bool:
    return any(m.name == name and KINDS[m.kind].estimated for m in spec.metrics)


def _sort_key(key: OrderKey, row: dict[str, Any]) -> tuple[bool, Any]:
    """Nulls last in either direction (the sort is reversed for a descending key)."""
    value = row[key.name]
    return (value is not None, value) if key.descending else (value is None, value)


def _estimate(spec: QuerySpec, rows: list[dict[str, Any]]) -> None:
    """Each sketch metric's sketches in ``rows`` replaced by the answer of their union: a
    distinct count, or the quantiles ``spec.quantiles`` names."""
    distinct = [m.name for m in spec.metrics if m.kind == "distinct"]
    quantiles = [m for m in spec.metrics if m.kind == "quantiles"]
    union = hll_union(HLL_LG_K)
    for row in rows:
        for name in distinct:
            row[name] = distinct_estimate(row[name], union)
        for metric in quantiles:
            row[metric.name] = quantiles_of(row[metric.name], spec.quantiles, metric.k)


def _null_non_finite(table: pa.Table) -> tuple[pa.Table, dict[str, int]]:
    """``table`` with every infinite or NaN metric value null, and how many per column.

    Sums are float64 in both layers: one whose running total passes about 1.8e308 is IEEE
    infinity there (and +inf plus -inf is NaN), which strict JSON cannot carry. Only sums
    and averages can get there (a min or max is one finite input)."""
    overflowed: dict[str, int] = {}
    for index, field in enumerate(table.schema):
        if not pa.types.is_floating(field.type):
            continue
        bad = pc.invert(pc.is_finite(table.column(index)))
        count = pc.sum(pc.cast(bad, pa.int64())).as_py() or 0
        if count:
            overflowed[field.name] = count
            nulled = pc.if_else(bad, pa.scalar(None, field.type), table.column(index))
            table = table.set_column(index, field, nulled)
    return table, overflowed


def overflow_warnings(view: View, overflowed: dict[str, int]) -> list[dict[str, Any]]:
    """``meta.warnings`` for the metrics whose sum left the float64 range, in view order."""
    warnings = []
    for metric in view.metrics:
        rows = overflowed.get(metric.name)
        if rows:
            what = "its sum" if metric.kind == "sum" else f"the sum behind its {metric.kind}"
            warnings.append(
                {
                    "code": "overflow",
                    "metric": metric.name,
                    "rows": rows,
                    "message": f"metric {metric.name!r}: {what} is beyond the range of a "
                    f"64-bit float (about ±1.8e308) in {rows} row{'' if rows == 1 else 's'}, "
                    "answered as null there",
                }
            )
    return warnings


def reduce_states(
    connection: duckdb.DuckDBPyConnection,
    spec: QuerySpec,
    files: list[Path],
    condition: tuple[str, list[Any]] | None = None,
    deadline: Deadline | None = None,
) -> pa.Table:
    """The states of ``files`` combined per output group of ``spec`` (rolled up, filtered,
    sketches unioned) but not finalised: a table that merges like the files themselves.

    A batch version never changes, so its reduction can be kept and merged with the speed
    view on every query instead of recombining the whole batch view each time. ``condition``
    keeps only some rows (those of the slices paired with this version).
    """
    dims = [quote(d) for d in spec.group_by]
    source, params = _filtered(spec, files, condition)
    columns = _state_columns(spec)
    partials = [partial_sql(c) for c in columns]
    cursor = connection.cursor()
    try:
        with _running(deadline, cursor), duckdb_reading(files):
            roll = _roll(cursor, spec, source, params)
            sql = (
                f"SELECT {roll.start} AS {BUCKET_COLUMN}"
                f"{''.join(', ' + d for d in dims)}, {', '.join(partials)} "
                f"FROM ({source}){roll.join} GROUP BY ALL"
            )
            table = cursor.sql(sql, params=params).to_arrow_table()
    finally:
        cursor.close()
    return union_sketch_lists(table, columns)


def _state_columns(spec: QuerySpec) -> list[StateColumn]:
    """The state columns of the metrics asked for (the others are neither read nor kept)."""
    return [column for metric in spec.metrics for column in state_columns(metric)]


def _running(
    deadline: Deadline | None, cursor: duckdb.DuckDBPyConnection
) -> AbstractContextManager[None]:
    """A statement cut at the deadline, if there is one."""
    return nullcontext() if deadline is None else deadline.running(cursor)


def _filtered(
    spec: QuerySpec, files: list[Path], condition: tuple[str, list[Any]] | None = None
) -> tuple[str, list[Any]]:
    """The rows of ``files`` within the spec's time range and filters (and ``condition``)."""
    params: list[Any] = [[str(f) for f in files]]
    where: list[str] = []
    if condition is not None:
        where.append(f"({condition[0]})")
        params.extend(condition[1])
    # The spec's start and end are on its buckets (query_spec.parse_query rounds them).
    if spec.start_ms is not None:
        where.append(f"{BUCKET_COLUMN} >= ?")
        params.append(spec.start_ms)
    if spec.end_ms is not None:
        where.append(f"{BUCKET_COLUMN} < ?")
        params.append(spec.end_ms)
    for dimension, values in spec.filters.items():
        where.append(f"{quote(dimension)} IN ({', '.join('?' for _ in values)})")
        params.extend(values)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT * FROM read_parquet(?, union_by_name = true){clause}", params


START = "__start"
"""A rolled row's bucket start (epoch ms), ordered and grouped by before it is written as text
(``__`` is the platform's: no dimension or metric has it)."""
LABEL = "__label"
STARTS = "bucket_starts"
"""The table of calendar bucket starts a query's rows are joined to: START and LABEL."""


class Roll(NamedTuple):
    """How a row's view bucket becomes its answer bucket: ``start`` (SQL) after ``join``;
    ``kept`` columns grouped by with it, and the SQL of the bucket's text from them."""

    join: str
    start: str
    kept: tuple[str, ...]
    label: str


def _roll(
    cursor: duckdb.DuckDBPyConnection, spec: QuerySpec, source: str, params: list[Any]
) -> Roll:
    """Fixed-size UTC buckets roll up by arithmetic. Calendar ones (weeks, months, days in a
    time zone) by an ASOF join to the starts of every bucket the rows' UTC days touch, which
    ``periods`` computes and this registers on ``cursor`` (a statement reads the days)."""
    size = spec.bucket_size
    if size is not None:
        label = f"strftime(epoch_ms({START}), '%Y-%m-%dT%H:%M:%SZ')"
        return Roll("", f"{BUCKET_COLUMN} - {BUCKET_COLUMN} % {size}", (), label)
    found = cursor.sql(
        f"SELECT DISTINCT {BUCKET_COLUMN} // {DAY_MS} FROM ({source})", params=params
    ).fetchall()
    buckets = spec.buckets
    starts = buckets.starts(day for (day,) in found)
    table = pa.table(
        {
            START: pa.array(starts, pa.int64()),
            LABEL: pa.array([buckets.label(s) for s in starts], pa.string()),
        }
    )
    cursor.register(STARTS, table)
    return Roll(f" ASOF JOIN {STARTS} ON {BUCKET_COLUMN} >= {START}", START, (LABEL,), LABEL)


def _parts(spec: QuerySpec, files: list[Path], reduced: int) -> tuple[str, list[Any]]:
    """The rows to merge: the files' (filtered) and the reduced tables', by column name."""
    parts: list[str] = []
    params: list[Any] = []
    if files:
        source, params = _filtered(spec, files)
        parts.append(f"({source})")
    parts += [f"(SELECT * FROM reduced_{index})" for index in range(reduced)]
    return f"SELECT * FROM {' UNION ALL BY NAME '.join(parts)}", params


def _sql(spec: QuerySpec, source: str, roll: Roll) -> str:
    """The answer's rows: grouped per rolled bucket and dimensions, finished, ordered (NULLs
    last), cut one row past the cap (or, to order by an estimate, past the bound)."""
    dims = [quote(d) for d in spec.group_by]
    metrics = [quote(m.name) for m in spec.metrics]
    grouped = [f"{roll.start} AS {START}", *roll.kept, *dims]
    grouped += [_metric_sql(m) for m in spec.metrics]
    inner = f"SELECT {', '.join(grouped)} FROM ({source}){roll.join} GROUP BY ALL"
    if _orders_by_estimate(spec):
        keys, limit = _default_order(spec, ()), ESTIMATE_ORDER_ROWS * spec.max_rows
    else:
        keys, limit = _order_sql(spec), spec.row_cap
    return (
        f"SELECT {', '.join([f'{roll.label} AS {BUCKET_COLUMN}', *dims, *metrics])} "
        f"FROM ({inner}) ORDER BY {', '.join(keys)} LIMIT {int(limit) + 1}"
    )


def _order_sql(spec: QuerySpec) -> list[str]:
    """``spec.order_by``, then the default order for ties."""
    keys = []
    for key in spec.order_by:
        if key.name == BUCKET_COLUMN:
            column = START
        elif key.name in spec.group_by:
            column = quote(key.name)
        else:  # a metric: an infinite sum is answered as null, so it orders as one
            column = f"CASE WHEN isfinite({quote(key.name)}) THEN {quote(key.name)} END"
        keys.append(f"{column} {'DESC' if key.descending else 'ASC'} NULLS LAST")
    return keys + _default_order(spec, {key.name for key in spec.order_by})


def _default_order(spec: QuerySpec, named: Collection[str]) -> list[str]:
    """Bucket, then dimensions, but those in ``named``: every answer's last keys, so that
    rows that tie on ``order_by`` come in one order."""
    columns = [] if BUCKET_COLUMN in named else [START]
    columns += [quote(d) for d in spec.group_by if d not in named]
    return [f"{column} ASC NULLS LAST" for column in columns]


def _metric_sql(metric: Metric) -> str:
    columns = {c.part.name: quote(c.name) for c in state_columns(metric)}
    return f"{KINDS[metric.kind].finish.format(**columns)} AS {quote(metric.name)}"
