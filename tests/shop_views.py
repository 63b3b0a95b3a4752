"""A purchase view with every metric kind, shared by the tests that compile views."""

from typing import Any

EVERY_KIND = {
    "orders": "count",
    "revenue": {"sum": "amount"},
    "smallest": {"min": "amount"},
    "largest": {"max": "amount"},
    "average": {"avg": "amount"},
    "buyers": {"distinct": "user_id"},
}


def purchase_view(name: str, granularity: str, dimensions: list[str]) -> dict[str, Any]:
    """A views.yaml entry over purchases with every metric kind."""
    return {
        "name": name,
        "event_type": "purchase",
        "dimensions": dimensions,
        "granularity": granularity,
        "metrics": dict(EVERY_KIND),
    }
