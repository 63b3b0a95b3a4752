"""State tables combined: the rows of several state files of one view, one row per group.

Serving combines a batch view's rows per query (``serving_layer.merge``); the speed layer
compacts a chain of snapshot files into one. Both use these parts.
"""

from pathlib import Path

import duckdb
import pyarrow as pa

from common.model.metric_kinds import BUCKET_COLUMN, StateColumn, view_state_columns
from common.model.sketches import union_bytes
from common.model.views import View
from common.storage.lake_files import duckdb_reading


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def partial_sql(column: StateColumn) -> str:
    """The SQL combining a state column's rows into one (sketches as a list, see below)."""
    name = quote(column.name)
    return f"{column.part.combine.format(x=name)} AS {name}"


def union_sketch_lists(table: pa.Table, columns: list[StateColumn]) -> pa.Table:
    """Replace each sketch column's lists (as ``partial_sql`` leaves them) by their union."""
    for column in columns:
        family = column.part.sketch
        if family is not None:
            blobs = table.column(column.name).to_pylist()
            unioned = [union_bytes(family, v, column.k) for v in blobs]
            index = table.schema.get_field_index(column.name)
            table = table.set_column(index, column.name, pa.array(unioned, pa.binary()))
    return table


def combine(
    connection: duckdb.DuckDBPyConnection, view: View, files: list[Path], table: pa.Table
) -> pa.Table:
    """The states of ``files`` and ``table`` (one view's) combined into one row per group, in
    the view's stored column order: a table that merges like its inputs."""
    columns = view_state_columns(view)
    keys = [BUCKET_COLUMN, *(quote(d) for d in view.dimensions)]
    names = ", ".join([*keys, *(quote(c.name) for c in columns)])
    sql = (
        f"SELECT {', '.join(keys)}, {', '.join(partial_sql(c) for c in columns)} FROM ("
        f"SELECT {names} FROM read_parquet(?) UNION ALL SELECT {names} FROM tail"
        f") GROUP BY ALL"
    )
    cursor = connection.cursor()
    try:
        cursor.register("tail", table)
        with duckdb_reading(files):
            combined = cursor.sql(sql, params=[[str(f) for f in files]]).to_arrow_table()
    finally:
        cursor.close()
    return union_sketch_lists(combined, columns).cast(state_schema(view))


def state_schema(view: View) -> pa.Schema:
    """A stored view's columns (without a batch view's hidden ones) and their types."""
    return pa.schema(
        [
            pa.field(BUCKET_COLUMN, pa.int64()),
            *(pa.field(d, pa.string()) for d in view.dimensions),
            *(pa.field(c.name, c.part.arrow) for c in view_state_columns(view)),
        ]
    )
