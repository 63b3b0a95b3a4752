"""The merge: batch and speed states combined in DuckDB, distinct counts unioned as sketches."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from datasketches import hll_sketch, hll_union

from common.lake_files import duckdb_reading
from common.metrics import BUCKET_COLUMN, HLL_LG_K, KINDS, state_columns, view_state_columns
from common.state_tables import partial_sql, quote, union_sketch_lists
from common.views import Metric
from serving_layer.query_spec import QuerySpec


def merge_rows(
    connection: duckdb.DuckDBPyConnection,
    spec: QuerySpec,
    files: list[Path],
    reduced: Sequence[pa.Table] = (),
) -> list[dict[str, Any]]:
    """Answer ``spec`` from state files of one view and tables already reduced by
    :func:`reduce_states` for the same spec (the batch side)."""
    if not files and not reduced:
        return []
    # One registered table however many parts (registering costs about 0.5 ms a table).
    tables = [pa.concat_tables(reduced, promote_options="permissive")] if reduced else []
    sql, params = _sql(spec, files, len(tables))
    cursor = connection.cursor()
    try:
        for index, table in enumerate(tables):
            cursor.register(f"reduced_{index}", table)
        # Arrow's to_pylist builds the row dicts in C++, several times faster than Python.
        with duckdb_reading(files):
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
    connection: duckdb.DuckDBPyConnection,
    spec: QuerySpec,
    files: list[Path],
    condition: tuple[str, list[Any]] | None = None,
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
        with duckdb_reading(files):
            table = cursor.sql(sql, params=params).to_arrow_table()
    finally:
        cursor.close()
    return union_sketch_lists(table, view_state_columns(spec.view))


def _filtered(
    spec: QuerySpec, files: list[Path], condition: tuple[str, list[Any]] | None = None
) -> tuple[str, list[Any]]:
    """The rows of ``files`` within the spec's time range and filters (and ``condition``)."""
    size = spec.bucket_size
    params: list[Any] = [[str(f) for f in files]]
    where: list[str] = []
    if condition is not None:
        where.append(f"({condition[0]})")
        params.extend(condition[1])
    if spec.start_ms is not None:
        where.append(f"{BUCKET_COLUMN} >= ?")
        params.append(-(-spec.start_ms // size) * size)
    if spec.end_ms is not None:
        where.append(f"{BUCKET_COLUMN} < ?")
        params.append(-(-spec.end_ms // size) * size)
    for dimension, values in spec.filters.items():
        where.append(f"{quote(dimension)} IN ({', '.join('?' for _ in values)})")
        params.extend(values)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT * FROM read_parquet(?, union_by_name = true){condition}", params


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
    if spec.limit is not None:
        sql += f" LIMIT {int(spec.limit)}"
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
