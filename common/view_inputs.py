"""What one event contributes to a view: its group (the time bucket and the dimension values
as text) and each metric's input. The one definition both layers use: the speed layer per
event (``speed_layer/view_state.py``), the batch layer inside Spark over Arrow batches of the
master dataset (``mapInArrow`` in ``batch_layer/spark_views.py``)."""

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from common.master import props_of
from common.metrics import BUCKET_COLUMN, KINDS, SLICE_COLUMNS
from common.timeutil import GRANULARITY_MS, bucket_of
from common.values import number_of, text_of
from common.views import Metric, View

Key = tuple[Any, ...]


def group_key(view: View, ts: int, props: dict[str, Any]) -> Key:
    """The group an event falls in: its bucket, then each dimension's value as text."""
    return (bucket_of(ts, view.granularity), *(text_of(props.get(d)) for d in view.dimensions))


def metric_input(metric: Metric, props: dict[str, Any]) -> float | str | None:
    """What a metric reads of an event: a number, or text for ``distinct`` (None: ignored)."""
    if metric.field is None:
        return None
    value = props.get(metric.field)
    return text_of(value) if KINDS[metric.kind].reads_text else number_of(value)


def input_column(metric: Metric) -> str:
    """``<metric>__in``: names with ``__`` are the platform's, so no dimension can clash."""
    return f"{metric.name}__in"


def fed_metrics(view: View) -> list[Metric]:
    """The metrics that read a field (all but ``count``)."""
    return [m for m in view.metrics if m.field is not None]


def input_schema(view: View) -> pa.Schema:
    """The columns of a view's inputs: bucket, dimensions, the event's generation and
    partition, one input per fed metric."""
    return pa.schema(
        [
            (BUCKET_COLUMN, pa.int64()),
            *((d, pa.string()) for d in view.dimensions),
            *((c, pa.int64()) for c in SLICE_COLUMNS),
            *(
                (input_column(m), pa.string() if KINDS[m.kind].reads_text else pa.float64())
                for m in fed_metrics(view)
            ),
        ]
    )


def input_batches(view: View, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Events (columns ``ts``, ``props``, the master dataset's JSON, ``generation`` and
    ``partition``) to view inputs.

    Column by column rather than event by event (three times faster), with the functions
    ``group_key`` and ``metric_input`` are made of: ``bucket_of``, ``text_of``, ``number_of``."""
    schema = input_schema(view)
    metrics = fed_metrics(view)
    size = GRANULARITY_MS[view.granularity]
    for batch in batches:
        events = [props_of(raw) for raw in batch.column("props").to_pylist()]
        columns: list[list[Any]] = [
            [ts - ts % size for ts in batch.column("ts").to_pylist()],  # bucket_of
            *([_text(props.get(d)) for props in events] for d in view.dimensions),
            batch.column("generation").to_pylist(),
            batch.column("partition").to_pylist(),
            *(_inputs(m, events) for m in metrics),
        ]
        yield pa.RecordBatch.from_arrays(
            [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
        )


def _text(value: Any) -> str | None:
    """``text_of``, its commonest case first."""
    return value if type(value) is str else text_of(value)


def _inputs(metric: Metric, events: list[dict[str, Any]]) -> list[float | str | None]:
    """``metric_input`` of every event."""
    field = metric.field
    if KINDS[metric.kind].reads_text:
        return [_text(props.get(field)) for props in events]
    return [number_of(props.get(field)) for props in events]
