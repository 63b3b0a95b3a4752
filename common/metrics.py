"""Mergeable metric state: the columns each metric kind stores, in batch and speed views alike.

A batch view and a speed view hold, per (bucket, dimensions) group, partial states that
combine exactly: counts and sums add, minima and maxima combine, averages are kept as a sum
and a count, and distinct counts as Apache DataSketches HLL sketches that union.
"""

from dataclasses import dataclass

from common.views import Metric, View

HLL_LG_K = 14
"""log2 of the HLL sketch's buckets: a relative standard error of about 0.8%."""

BUCKET_COLUMN = "bucket"


@dataclass(frozen=True)
class StateColumn:
    """One stored column of a metric's state; ``part`` says how it combines."""

    name: str
    part: str  # count | sum | n | min | max | hll


def state_columns(metric: Metric) -> list[StateColumn]:
    """The state columns of a metric, named ``<metric>__<part>``."""
    parts = {
        "count": ["count"],
        "sum": ["sum", "n"],
        "avg": ["sum", "n"],
        "min": ["min"],
        "max": ["max"],
        "distinct": ["hll"],
    }[metric.kind]
    return [StateColumn(f"{metric.name}__{part}", part) for part in parts]


def view_state_columns(view: View) -> list[StateColumn]:
    """Every state column of a view, in metric order."""
    return [column for metric in view.metrics for column in state_columns(metric)]


def view_columns(view: View) -> list[str]:
    """The column order of a stored view: bucket, dimensions, then state columns."""
    return [BUCKET_COLUMN, *view.dimensions, *(c.name for c in view_state_columns(view))]
