"""Incremental state of one view, updated event by event, exported as a mergeable table."""

from collections.abc import Callable
from typing import Any

import pyarrow as pa
from datasketches import hll_sketch, tgt_hll_type

from common.events import Event
from common.metrics import BUCKET_COLUMN, HLL_LG_K, state_columns
from common.view_inputs import Key, group_key, metric_input
from common.views import Metric, View

Slots = list[Any]
Updater = Callable[[Slots, dict[str, Any]], None]


class ViewState:
    """Per (bucket, dimension values) group, the partial state of every metric of a view."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.groups: dict[Key, Slots] = {}
        self.changed = True
        self._columns = [c for m in view.metrics for c in state_columns(m)]
        self._hll_slots = [i for i, c in enumerate(self._columns) if c.part == "hll"]
        self._updaters = [_updater(m, self._slot_of(m)) for m in view.metrics]

    def _slot_of(self, metric: Metric) -> int:
        return next(i for i, c in enumerate(self._columns) if c.name.startswith(f"{metric.name}__"))

    def apply(self, event: Event) -> None:
        """Fold one event (of this view's type) into its group."""
        props = event.props
        key = group_key(self.view, event.ts, props)
        slots = self.groups.get(key)
        if slots is None:
            slots = self.groups[key] = self._empty_slots()
        for update in self._updaters:
            update(slots, props)
        self.changed = True

    def _empty_slots(self) -> Slots:
        empty: dict[str, Any] = {"count": 0, "sum": 0.0, "n": 0, "min": None, "max": None}
        slots = [empty.get(c.part) for c in self._columns]
        for i in self._hll_slots:
            slots[i] = hll_sketch(HLL_LG_K, tgt_hll_type.HLL_8)
        return slots

    def to_table(self) -> pa.Table:
        """The state as a table: bucket, dimensions, then the state columns."""
        keys = list(self.groups)
        rows = [self.groups[k] for k in keys]
        arrays: dict[str, pa.Array] = {BUCKET_COLUMN: pa.array([k[0] for k in keys], pa.int64())}
        for i, dim in enumerate(self.view.dimensions, start=1):
            arrays[dim] = pa.array([k[i] for k in keys], pa.string())
        for i, column in enumerate(self._columns):
            values = [r[i] for r in rows]
            if column.part == "hll":
                arrays[column.name] = pa.array([s.serialize_compact() for s in values], pa.binary())
            else:
                arrays[column.name] = pa.array(values, _ARROW_TYPES[column.part])
        return pa.table(arrays)


_ARROW_TYPES = {
    "count": pa.int64(),
    "sum": pa.float64(),
    "n": pa.int64(),
    "min": pa.float64(),
    "max": pa.float64(),
}


def _updater(metric: Metric, slot: int) -> Updater:
    """A small function that folds one event's properties into a metric's slots."""

    def count(slots: Slots, props: dict[str, Any]) -> None:
        slots[slot] += 1

    def total(slots: Slots, props: dict[str, Any]) -> None:
        value = metric_input(metric, props)
        if value is not None:
            slots[slot] += value
            slots[slot + 1] += 1

    def smallest(slots: Slots, props: dict[str, Any]) -> None:
        value = metric_input(metric, props)
        if value is not None and (slots[slot] is None or value < slots[slot]):
            slots[slot] = value

    def largest(slots: Slots, props: dict[str, Any]) -> None:
        value = metric_input(metric, props)
        if value is not None and (slots[slot] is None or value > slots[slot]):
            slots[slot] = value

    def distinct(slots: Slots, props: dict[str, Any]) -> None:
        value = metric_input(metric, props)
        if value is not None:
            slots[slot].update(value)

    return {
        "count": count,
        "sum": total,
        "avg": total,
        "min": smallest,
        "max": largest,
        "distinct": distinct,
    }[metric.kind]
