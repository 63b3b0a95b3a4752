"""Metric kinds and their mergeable state, defined once for every layer.

A batch view and a speed view hold, per (bucket, dimensions) group, partial states that
combine exactly: counts and sums add, minima and maxima combine, averages are kept as a sum
and a count, and distinct counts as Apache DataSketches HLL sketches that union. Each kind's
state columns (``PARTS``) say how they start, fold one input in (the speed layer), aggregate
in Spark (the batch layer) and combine in DuckDB (serving); ``KINDS`` says which parts a kind
keeps and how serving finishes them into the answer. Adding a kind touches these two tables.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from common.model.sketches import HLL, HLL_LG_K, KLL, KLL_K, Family
from common.model.views import Metric, View

BUCKET_COLUMN = "bucket"
SLICE_COLUMNS = ("__generation", "__partition")
"""Hidden columns of a batch view: the topic generation and partition of the events in the
row, so that serving can pair each partition with the batch version its speed state is on.
(No dimension can take these names: ``__`` is the platform's.)"""


@dataclass(frozen=True)
class Part:
    """One stored column of a metric's state.

    ``spark`` and ``combine`` are SQL templates over ``{x}``: the metric's input column (Spark
    aggregates events into a part) and the part's own column (DuckDB combines parts); ``{k}``
    is the metric's sketch size. A sketch part (``sketch``) is stored as bytes; DuckDB
    combines it into a list that ``sketch.union`` unions."""

    name: str
    arrow: pa.DataType
    empty: Callable[[int | None], Any]
    fold: Callable[[Any, Any], Any]
    spark: str
    combine: str
    sketch: Family | None = None


PARTS = {
    p.name: p
    for p in (
        Part(
            "count",
            pa.int64(),
            lambda k: 0,
            lambda s, v: s if v is None else s + 1,
            "count({x})",
            "sum({x})::BIGINT",
        ),
        Part(
            "sum",
            pa.float64(),
            lambda k: 0.0,
            lambda s, v: s if v is None else s + v,
            "sum({x})",
            "sum({x})",
        ),
        Part(
            "n",
            pa.int64(),
            lambda k: 0,
            lambda s, v: s if v is None else s + 1,
            "count({x})",
            "sum({x})::BIGINT",
        ),
        Part(
            "min",
            pa.float64(),
            lambda k: None,
            lambda s, v: v if v is not None and (s is None or v < s) else s,
            "min({x})",
            "min({x})",
        ),
        Part(
            "max",
            pa.float64(),
            lambda k: None,
            lambda s, v: v if v is not None and (s is None or v > s) else s,
            "max({x})",
            "max({x})",
        ),
        Part(
            "hll",
            pa.binary(),
            HLL.new,
            HLL.update,
            f"hll_sketch_agg({{x}}, {HLL_LG_K})",
            "list({x}) FILTER (WHERE {x} IS NOT NULL)",
            HLL,
        ),
        Part(
            "kll",
            pa.binary(),
            KLL.new,
            KLL.update,
            "kll_sketch_agg_double({x}, {k})",
            "list({x}) FILTER (WHERE {x} IS NOT NULL)",
            KLL,
        ),
    )
}


@dataclass(frozen=True)
class Kind:
    """A metric kind: the parts it keeps, whether it reads its field as text or as a number,
    the DuckDB expression that finishes combined parts (``{count}``, ``{sum}``, ...), and
    whether the answer is a sketch estimate."""

    parts: tuple[str, ...]
    reads_text: bool
    finish: str
    estimated: bool = False


KINDS = {
    "count": Kind(("count",), False, "sum({count})::BIGINT"),
    "sum": Kind(("sum", "n"), False, "CASE WHEN sum({n}) > 0 THEN sum({sum}) END"),
    "avg": Kind(("sum", "n"), False, "sum({sum}) / NULLIF(sum({n}), 0)"),
    "min": Kind(("min",), False, "min({min})"),
    "max": Kind(("max",), False, "max({max})"),
    "distinct": Kind(("hll",), True, "list({hll}) FILTER (WHERE {hll} IS NOT NULL)", True),
    "quantiles": Kind(("kll",), False, "list({kll}) FILTER (WHERE {kll} IS NOT NULL)", True),
}
"""An ``estimated`` kind finishes as the list of sketches to union; serving answers from the
union (``common.model.sketches``)."""


@dataclass(frozen=True)
class StateColumn:
    """One stored column of a metric's state: ``<metric>__<part>``, and the metric's sketch
    size ``k`` (None: the sketch's default)."""

    name: str
    part: Part
    k: int | None = None

    def empty(self) -> Any:
        return self.part.empty(self.k)

    def spark(self, source: str) -> str:
        """The Spark SQL aggregating ``source`` (the metric's input) into this column."""
        k = KLL_K if self.k is None else self.k
        return self.part.spark.format(x=source, k=k)


def state_columns(metric: Metric) -> list[StateColumn]:
    """The state columns of a metric, named ``<metric>__<part>``."""
    return [
        StateColumn(f"{metric.name}__{p}", PARTS[p], metric.k) for p in KINDS[metric.kind].parts
    ]


def view_state_columns(view: View) -> list[StateColumn]:
    """Every state column of a view, in metric order."""
    return [column for metric in view.metrics for column in state_columns(metric)]


def view_columns(view: View, hidden: bool = False) -> list[str]:
    """The column order of a stored view: bucket, dimensions, (in a batch view, the hidden
    ``SLICE_COLUMNS``,) then state columns."""
    slices = list(SLICE_COLUMNS) if hidden else []
    return [BUCKET_COLUMN, *view.dimensions, *slices, *(c.name for c in view_state_columns(view))]
