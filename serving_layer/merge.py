"""The merge: batch and speed states combined in DuckDB, distinct counts unioned as sketches."""

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from datasketches import hll_sketch, hll_union

from common.metrics import BUCKET_COLUMN, HLL_LG_K, KINDS, StateColumn, state_columns
from common.views import Metric
from serving_layer.query_spec import QuerySpec


def merge_rows(
    connection: duckdb.DuckDBPyConnection,
    spec: QuerySpec,
    files: list[Path],
    cached_batch: pa.Table | None = None,
) -> list[dict[str, Any]]:
    """Answer ``spec`` from state files of one view and, optionally, a batch side already
    reduced by :func:`reduce_states` for the same spec."""
    if not files and cached_batch is None:
        return []
    sql, params = _sql(spec, files, cached=cached_batch is not None)
    cursor = connection.cursor()
    try:
        if cached_batch is not None:
            cursor.register("cached_batch", cached_batch)
        # Arrow's to_pylist builds the row dicts in C++, several times faster than Python.
        rows: list[dict[str, Any]] = cursor.sql(sql, params=params).to_arrow_table().to_pylist()
    finally:
        cursor.close()
    distinct = [m.name for m in spec.view.metrics if KINDS[m.kind].estimated]
    if distinct:
        union = hll_union(HLL_LG_K)
        for row in rows:
            for name in distinct:
                row[name] = union_estimate(row[name], union)
    return rows


def reduce_states(
    connection: duckdb.DuckDBPyConnection, spec: QuerySpec, files: list[Path]
) -> pa.Table:
    """The states of ``files`` combined per output group of ``spec`` (rolled up, filtered,
    sketches unioned) but not finalised: a table that merges like the files themselves.

    A batch version never changes, so its reduction can be kept and merged with the speed
    view on every query instead of recombining the whole batch view each time.
    """
    size = spec.bucket_size
    dims = [_quote(d) for d in spec.group_by]
    source, params = _filtered(spec, files)
    partials = [_partial_sql(c) for m in spec.view.metrics for c in state_columns(m)]
    sql = (
        f"SELECT {BUCKET_COLUMN} - {BUCKET_COLUMN} % {size} AS {BUCKET_COLUMN}"
        f"{''.join(', ' + d for d in dims)}, {', '.join(partials)} "
        f"FROM ({source}) GROUP BY ALL"
    )
    cursor = connection.cursor()
    try:
        table = cursor.sql(sql, params=params).to_arrow_table()
    finally:
        cursor.close()
    union = hll_union(HLL_LG_K)
    for metric in spec.view.metrics:
        for column in state_columns(metric):
            if column.part.arrow == pa.binary():
                unioned = [_union_bytes(v, union) for v in table.column(column.name).to_pylist()]
                index = table.schema.get_field_index(column.name)
                table = table.set_column(index, column.name, pa.array(unioned, pa.binary()))
    return table


def _partial_sql(column: StateColumn) -> str:
    name = _quote(column.name)
    return f"{column.part.combine.format(x=name)} AS {name}"


def _union_bytes(sketches: list[bytes] | None, union: hll_union) -> bytes | None:
    if not sketches:
        return None
    if len(sketches) == 1:
        return sketches[0]
    union.reset()
    for blob in sketches:
        union.update(hll_sketch.deserialize(blob))
    return union.get_result().serialize_compact()


def _filtered(spec: QuerySpec, files: list[Path]) -> tuple[str, list[Any]]:
    """The rows of ``files`` within the spec's time range and filters."""
    size = spec.bucket_size
    params: list[Any] = [[str(f) for f in files]]
    where: list[str] = []
    if spec.start_ms is not None:
        where.append(f"{BUCKET_COLUMN} >= ?")
        params.append(-(-spec.start_ms // size) * size)
    if spec.end_ms is not None:
        where.append(f"{BUCKET_COLUMN} < ?")
        params.append(-(-spec.end_ms // size) * size)
    for dimension, values in spec.filters.items():
        where.append(f"{_quote(dimension)} IN ({', '.join('?' for _ in values)})")
        params.extend(values)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT * FROM read_parquet(?, union_by_name = true){condition}", params


def _sql(spec: QuerySpec, files: list[Path], cached: bool) -> tuple[str, list[Any]]:
    size = spec.bucket_size
    dims = [_quote(d) for d in spec.group_by]
    parts: list[str] = []
    params: list[Any] = []
    if files:
        source, params = _filtered(spec, files)
        parts.append(f"({source})")
    if cached:
        parts.append("(SELECT * FROM cached_batch)")
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
    if spec.limit is not None:
        sql += f" LIMIT {int(spec.limit)}"
    return sql, params


def _metric_sql(metric: Metric) -> str:
    columns = {c.part.name: _quote(c.name) for c in state_columns(metric)}
    return f"{KINDS[metric.kind].finish.format(**columns)} AS {_quote(metric.name)}"


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


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
