"""One documented operation per view: GET /views/revenue_by_country, ...

Which parameters a view accepts depends on the view (its granularity, its dimensions), and one
operation on ``/views/{name}`` cannot say so. So the OpenAPI document lists every view's path
with its own parameters, exactly as ``query_spec.parse_query`` accepts them, and keeps
``/views/{name}`` for names that are not views (404).
"""

import copy
from itertools import permutations
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from common.model.jsonschema import rfc3339
from common.model.views import Catalog, View
from serving_layer.periods import QUERY_GRANULARITIES, coarseness
from serving_layer.query_spec import (
    DEFAULT_QUANTILES,
    FRACTION,
    MAX_QUANTILES,
    SOURCES,
    UNORDERABLE_KINDS,
)

TEMPLATE = "/views/{name}"


def document_views(app: FastAPI, catalog: Catalog, max_rows: int) -> None:
    """Make ``app.openapi()`` list every view's path beside ``/views/{name}``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            add_view_paths(schema, catalog, max_rows)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_view_paths(schema: dict[str, Any], catalog: Catalog, max_rows: int) -> None:
    """Add a path per view, and keep the template for the names that are none."""
    paths = schema["paths"]
    template = paths[TEMPLATE]["get"]
    names = [view.name for view in catalog.views]
    for view in catalog.views:
        paths[f"/views/{view.name}"] = {"get": view_operation(template, view, max_rows)}
    unknown = copy.deepcopy(template)
    unknown["summary"] = "Any other name: not a view"
    unknown["operationId"] += "_unknown"
    unknown["responses"].pop("200", None)
    unknown["responses"].pop("503", None)
    for parameter in unknown["parameters"]:
        if parameter["name"] == "name":
            parameter["schema"] = {"type": "string", "not": {"enum": names}}
    paths[TEMPLATE]["get"] = unknown


def view_operation(template: dict[str, Any], view: View, max_rows: int) -> dict[str, Any]:
    """The template's answers, with the parameters this view accepts."""
    operation = copy.deepcopy(template)
    operation["summary"] = f"Query {view.name}"
    operation["operationId"] = f"query_{view.name}"
    operation["responses"].pop("404", None)
    operation["parameters"] = [
        {"name": name, "in": "query", "required": False, "schema": param_schema}
        | ({"style": "form", "explode": True} if name == "filter" else {})
        for name, param_schema in view_parameters(view, max_rows).items()
    ]
    return operation


MAX_LISTED_NAMES = 4
"""Up to this many dimensions (or metrics), every order of every subset is listed (65 values
at most); beyond, a pattern (the count of orders grows factorially: 9.8 million for 10)."""


def _subsets_schema(names: list[str], description: str, empty: bool) -> dict[str, Any]:
    """A comma-separated subset of ``names`` in any order (``empty``: none at all too)."""
    schema: dict[str, Any] = {"type": "string", "description": description}
    if len(names) <= MAX_LISTED_NAMES:
        schema["enum"] = [
            ",".join(p)
            for n in range(0 if empty else 1, len(names) + 1)
            for p in permutations(names, n)
        ]
    else:
        one = "|".join(names)
        listed = f"({one})(,({one}))*"
        schema["pattern"] = f"^({listed})?$" if empty else f"^{listed}$"
    return schema


def view_parameters(view: View, max_rows: int) -> dict[str, dict[str, Any]]:
    """JSON Schema of each query parameter of one view."""
    dimensions = list(view.dimensions)
    metrics = [m.name for m in view.metrics]
    orderable = "|".join(
        ["bucket", *dimensions, *(m.name for m in view.metrics if m.kind not in UNORDERABLE_KINDS)]
    )
    parameters: dict[str, dict[str, Any]] = {
        "start": rfc3339("inclusive, on the bucket time"),
        "end": rfc3339("exclusive, on the bucket time"),
        "granularity": {
            "type": "string",
            "enum": [
                g for g in QUERY_GRANULARITIES if coarseness(g) >= coarseness(view.granularity)
            ],
            "description": "the view's own or coarser (buckets roll up; week: ISO, from Monday)",
        },
        "tz": {
            "type": "string",
            "description": "an IANA time zone (Europe/Amsterdam) for day, week and month "
            "buckets: they start at local midnight and carry its offset; refused when the "
            "view's own buckets cannot make up its days (an offset that is no whole number "
            "of them)",
        },
        "group_by": _subsets_schema(
            dimensions, "comma-separated dimensions (default: all; empty for none)", empty=True
        ),
        "metrics": _subsets_schema(
            metrics, "comma-separated metrics (default: all), in the view's order", empty=False
        ),
        "order_by": {
            "type": "string",
            "pattern": f"^(-?({orderable})(,-?({orderable}))*)?$",  # empty: the default order
            "description": "comma-separated, -name descending: bucket, grouped dimensions or "
            "metrics asked for; applied before limit, then bucket and dimensions; nulls last",
        },
        "quantiles": {
            "type": "string",
            "pattern": rf"^{FRACTION}(,{FRACTION}){{0,{MAX_QUANTILES - 1}}}$",
            "description": "comma-separated fractions between 0 and 1 for quantiles metrics "
            f"(default {','.join(map(str, DEFAULT_QUANTILES))})",
        },
        "source": {"type": "string", "enum": list(SOURCES), "description": "the layer answering"},
        "limit": {"type": "integer", "minimum": 1, "maximum": max_rows, "description": "rows"},
    }
    if dimensions:
        alternatives = "|".join(dimensions)
        parameters["filter"] = {
            "type": "array",
            "items": {"type": "string", "pattern": f"^({alternatives}):"},
            "description": "dimension:value (any of the values of a dimension listed twice)",
        }
    return parameters
