"""Arrow schemas as SQL column lists: how Spark is told the shape of what we write."""

import pyarrow as pa

_SQL_TYPES = {
    pa.string(): "string",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.float64(): "double",
    pa.binary(): "binary",
}


def ddl_of(schema: pa.Schema) -> str:
    """``\\`name\\` type, ...`` for every field of ``schema``."""
    return ", ".join(f"`{f.name}` {_SQL_TYPES[f.type]}" for f in schema)
