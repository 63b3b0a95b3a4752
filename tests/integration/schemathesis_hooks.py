"""Schemathesis hooks for this project's APIs (loaded through SCHEMATHESIS_HOOKS).

POST /events documents its NDJSON body as an array of events, one per line; Schemathesis has no
serializer for NDJSON, so this one writes each item of the generated value as a line.
"""

import json
from typing import Any

import schemathesis

from ingest.body import NDJSON_TYPES


@schemathesis.serializer(*NDJSON_TYPES)
def ndjson(ctx: Any, value: Any) -> bytes:
    """One JSON document per line; a value that is not an array (negative data) as one line."""
    items = value if isinstance(value, list) else [value]
    # json, not orjson: generated integers may exceed 64 bits
    return "".join(json.dumps(item) + "\n" for item in items).encode()


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Drop a case of a templated path that names a concrete path of the same document.

    OpenAPI matches concrete paths before templated ones: `GET /views/revenue_by_country` is an
    operation of its own (with that view's parameters), and `GET /views/{name}` is for the names
    that are not views. A case of the template whose request is one of the concrete path's is a
    case of that other operation, which is tested on its own with its own parameters.
    """
    paths = case.operation.schema.raw_schema.get("paths", {})
    return case.path == case.formatted_path or case.formatted_path not in paths
