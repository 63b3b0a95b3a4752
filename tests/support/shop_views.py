"""Purchase views and query specs shared by the tests that compile views."""

from typing import Any

from common.model.views import View
from serving_layer.query_spec import QuerySpec, parse_query

EVERY_KIND = {
    "orders": "count",
    "revenue": {"sum": "amount"},
    "smallest": {"min": "amount"},
    "largest": {"max": "amount"},
    "average": {"avg": "amount"},
    "buyers": {"distinct": "user_id"},
}


def purchase_view(
    name: str,
    granularity: str,
    dimensions: list[str] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A views.yaml entry over purchases; every metric kind unless ``metrics`` says otherwise."""
    return {
        "name": name,
        "event_type": "purchase",
        "dimensions": dimensions or [],
        "granularity": granularity,
        "metrics": dict(EVERY_KIND if metrics is None else metrics),
    }


def spec_of(view: View, max_rows: int = 100_000, **params: Any) -> QuerySpec:
    """A parsed query of ``view``; unnamed parameters are absent."""
    raw: dict[str, Any] = {
        "start": None,
        "end": None,
        "granularity": None,
        "group_by": None,
        "filters": [],
        "source": None,
        "limit": None,
        "metrics": None,
        "order_by": None,
        "tz": None,
        "quantiles": None,
    }
    raw.update(params)
    return parse_query(view, max_rows=max_rows, **raw)
