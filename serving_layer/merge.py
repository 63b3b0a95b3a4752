"""The merge: batch and speed states combined in DuckDB, distinct counts unioned as sketches."""

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import hll_sketch, hll_union

from common.model.metric_kinds import (
    BUCKET_COLUMN,
    HLL_LG_K,
    KINDS,
    state_columns,
    view_state_columns,
)
from common.model.views import Metric, View
from common.storage.lake_files import duckdb_reading
from common.storage.state_tables import partial_sql, quote, union_sketch_lists
from serving_layer.deadline import Deadline
from serving_layer.query_spec import QuerySpec


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
    :func:`reduce_states` for the same spec (the batch side): at most ``spec.row_cap`` rows."""
    if not files and not reduced:
        return Merged([], truncated=False, overflowed={})
    # One registered table however many parts (registering costs about 0.5 ms a table).
    tables = [pa.concat_tables(reduced, promote_options="permissive")] if reduced else []
    sql, params = _sql(spec, files, len(tables))
    cursor = connection.cursor()
    try:
        for index, table in enumerate(tables):
            cursor.register(f"reduced_{index}", table)
        with _running(deadline, cursor), duckdb_reading(files):
            answer, overflowed = _null_non_finite(cursor.sql(sql, params=params).to_arrow_table())
    finally:
        cursor.close()
    # The query asks for one row past the cap: there were more when it is there.
    truncated = answer.num_rows > spec.row_cap
    # Arrow's to_pylist builds the row dicts in C++, several times faster than Python.
    rows: list[dict[str, Any]] = answer.slice(0, spec.row_cap).to_pylist()
    distinct = [m.name for m in spec.view.metrics if KINDS[m.kind].estimated]
    if distinct:
        union = hll_union(HLL_LG_K)
        for row in rows:
            for name in distinct:
                row[name] = union_estimate(row[name], union)
    return Merged(rows, truncated, overflowed)


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
    size = spec.bucket_size
    dims = [quote(d) for d in spec.group_by]
    source, params = _filtered(spec, files, condition)
    partials = [partial_sql(c) for m in spec.view.metrics for c in state_columns(m)]
    sql = (
        f"SELECT {BUCKET_COLUMN} - {BUCKET_COLUMN} % {size} AS {BUCKET_COLUMN}"
        f"{''.join(', ' + d for d in dims)}, {', '.join(partials)} "
        f"FROM ({source}) GROUP BY ALL"
    )
    cursor = connection.cursor()
    try:
        with _running(deadline, cursor), duckdb_reading(files):
            table = cursor.sql(sql, params=params).to_arrow_table()
    finally:
        cursor.close()
    return union_sketch_lists(table, view_state_columns(spec.view))


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


def _sql(spec: QuerySpec, files: list[Path], reduced: int) -> tuple[str, list[Any]]:
    size = spec.bucket_size
    dims = [quote(d) for d in spec.group_by]
    parts: list[str] = []
    params: list[Any] = []
    if files:
        source, params = _filtered(spec, files)
        parts.append(f"({source})")
    parts += [f"(SELECT * FROM reduced_{index})" for index in range(reduced)]
    # ISO 8601 text sorts like the time it names, so grouping and ordering by it is exact.
    rolled = f"epoch_ms({BUCKET_COLUMN} - {BUCKET_COLUMN} % {size})"
    selects = [f"strftime({rolled}, '%Y-%m-%dT%H:%M:%SZ') AS {BUCKET_COLUMN}", *dims]
    selects += [_metric_sql(m) for m in spec.view.metrics]
    order = ", ".join([BUCKET_COLUMN, *dims])
    sql = (
        f"SELECT {', '.join(selects)} "
        f"FROM ({' UNION ALL BY NAME '.join(parts)}) "
        f"GROUP BY {', '.join(str(i) for i in range(1, len(dims) + 2))} "
        f"ORDER BY {order}"
    )
    sql += f" LIMIT {int(spec.row_cap) + 1}"
    return sql, params


def _metric_sql(metric: Metric) -> str:
    columns = {c.part.name: quote(c.name) for c in state_columns(metric)}
    return f"{KINDS[metric.kind].finish.format(**columns)} AS {quote(metric.name)}"


def union_estimate(sketches: list[bytes] | None, union: hll_union | None = None) -> int:
    """The distinct count of the union of serialized HLL sketches (``union`` is reused)."""
    if not sketches:
        return 0
    if len(sketches) == 1:
        return round(hll_sketch.deserialize(sketches[0]).get_estimate())
    if union is None:
        union = hll_union(HLL_LG_K)
    union.reset()
    for blob in sketches:
        union.update(hll_sketch.deserialize(blob))
    return round(union.get_estimate())
