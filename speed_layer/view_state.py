"""Incremental state of one view, updated event by event, exported as a mergeable table."""

from typing import Any

import pyarrow as pa

from common.model.events import Event
from common.model.metric_kinds import BUCKET_COLUMN, state_columns, view_state_columns
from common.model.view_inputs import Key, admits, group_key, input_reader
from common.model.views import View

Slots = list[Any]


class ViewState:
    """Per (bucket, dimension values) group, the partial state of every metric of a view."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.groups: dict[Key, Slots] = {}
        self._columns = view_state_columns(view)
        # Per state column, its fold and the index of the metric whose input it folds.
        self._folds = [
            (c.part.fold, i) for i, m in enumerate(view.metrics) for c in state_columns(m)
        ]
        self._readers = [input_reader(m) for m in view.metrics]
        self._admits = admits(view)

    def apply(self, event: Event) -> None:
        """Fold one event (of this view's type) into its group, if the view admits it."""
        props = event.props
        if not self._admits(props):
            return
        key = group_key(self.view, event.ts, props)
        slots = self.groups.get(key)
        if slots is None:
            slots = self.groups[key] = [c.empty() for c in self._columns]
        inputs = [read(props) for read in self._readers]
        for slot, (fold, metric) in enumerate(self._folds):
            slots[slot] = fold(slots[slot], inputs[metric])

    def to_table(self) -> pa.Table:
        """The state as a table: bucket, dimensions, then the state columns."""
        keys = list(self.groups)
        rows = [self.groups[k] for k in keys]
        arrays: dict[str, pa.Array] = {BUCKET_COLUMN: pa.array([k[0] for k in keys], pa.int64())}
        for i, dim in enumerate(self.view.dimensions, start=1):
            arrays[dim] = pa.array([k[i] for k in keys], pa.string())
        for i, column in enumerate(self._columns):
            values = [r[i] for r in rows]
            if column.part.sketch is not None:
                values = [column.part.sketch.serialize(sketch) for sketch in values]
            arrays[column.name] = pa.array(values, column.part.arrow)
        return pa.table(arrays)
