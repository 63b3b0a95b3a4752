"""Publishing one slice's state as segments: the open one rewritten, sealed ones kept, then its
pointer.

A snapshot rewrites the files of the open segment's views that changed (and its ids); the
open segment is sealed once it holds ``SEGMENT_EVENTS`` events or ``SEGMENT_ROWS`` groups in a
view, so a snapshot never writes more than that. Sealed segments stay as they are until a new
batch version covers them (then they are dropped, and only the one segment it covers in part
is read again) or there are more than ``MAX_SEGMENTS`` of them (then the two oldest are
combined: the newest stay small, since the next batch version cuts among them).
"""

import duckdb
import pyarrow as pa

from common.model.timeutil import utc_now_text
from common.model.views import Catalog
from common.storage.lake_files import read_parquet
from common.storage.speed_store import IDS, Segment, SlicePointer, SliceStore
from common.storage.state_tables import combine, state_schema
from speed_layer.slice_state import SliceState

SEGMENT_EVENTS = 20_000
SEGMENT_ROWS = 4_096
MAX_SEGMENTS = 12


class SlicePublisher:
    """Writes one slice's snapshots."""

    def __init__(self, store: SliceStore, catalog: Catalog, owner: str) -> None:
        self.store = store
        self.catalog = catalog
        self.owner = owner
        self.pointer = store.read()
        # Above every file on disk: a killed owner may have written files under sequences its
        # last pointer never reached, and a name must never be written twice.
        self.sequence = max(self.pointer.sequence if self.pointer else 0, store.highest_sequence())
        # A restored pointer's segments are all sealed: the state in memory holds none of them.
        self.sealed: list[Segment] = list(self.pointer.segments) if self.pointer else []
        self.open: Segment | None = None
        self.merging = True  # off while a switch reads a sealed segment again
        self._connection: duckdb.DuckDBPyConnection | None = None  # opened for a first merge

    @property
    def published_offset(self) -> int:
        """The offset the served state reflects (0 when nothing is served)."""
        return self.pointer.next_offset if self.pointer else 0

    def publish(self, state: SliceState, fresh: bool = False, seal: bool = False) -> SlicePointer:
        """Publish ``state``: its open segment rewritten where it changed, sealed when it has
        grown (or ``seal``). ``fresh``: a state built anew, whose open segment is all of it."""
        if fresh:
            self.sealed, self.open = [], None
            state.dirty = set(state.views)
        self.sequence += 1
        opened = self._write_open(state)
        if opened.events and (seal or self._full(opened, state)):
            self.sealed.append(opened)
            state.seal()
            self.open = None
            self._merge_oldest()
        else:
            self.open = opened if opened.events or opened.files else None
            state.written()
        return self._repoint(state)

    def replace_sealed(self, state: SliceState, sealed: list[Segment]) -> SlicePointer:
        """Publish ``state`` on new sealed segments (after a switch to a new batch version),
        with its open segment as it is now."""
        self.sealed = sealed
        return self.publish(state)

    def write_segment(self, state: SliceState, first: int, end: int) -> Segment:
        """``state``'s open segment as a sealed segment of its own, ``[first, end)``."""
        self.sequence += 1
        files = {
            name: self.store.write_table(self.sequence, name, view.to_table())
            for name, view in state.views.items()
            if view.groups
        }
        ids = self.store.write_ids(self.sequence, state.open_ids) if state.open_ids else None
        return Segment(first, end, len(state.open_ids), files, ids)

    def _write_open(self, state: SliceState) -> Segment:
        previous = self.open
        files = dict(previous.files) if previous else {}
        for name in state.dirty:
            view = state.views[name]
            if view.groups:
                files[name] = self.store.write_table(self.sequence, name, view.to_table())
        ids = previous.ids if previous else None
        if state.new_ids:
            ids = self.store.write_ids(self.sequence, state.open_ids)
        first = state.open_first
        return Segment(first, max(first, state.next_offset), len(state.open_ids), files, ids)

    @staticmethod
    def _full(segment: Segment, state: SliceState) -> bool:
        rows = max((len(v.groups) for v in state.views.values()), default=0)
        return segment.events >= SEGMENT_EVENTS or rows >= SEGMENT_ROWS

    def _merge_oldest(self) -> None:
        """Combine the two oldest sealed segments while there are too many."""
        while self.merging and len(self.sealed) > MAX_SEGMENTS:
            older, newer = self.sealed[0], self.sealed[1]
            self.sequence += 1
            files = {}
            for view in self.catalog.views:
                paths = [
                    self.store.path(seg.files[view.name])
                    for seg in (older, newer)
                    if view.name in seg.files
                ]
                if paths:
                    merged = combine(self._duckdb(), view, paths, state_schema(view).empty_table())
                    files[view.name] = self.store.write_table(self.sequence, view.name, merged)
            id_tables = [read_parquet(self.store.path(s.ids)) for s in (older, newer) if s.ids]
            ids = None
            if id_tables:
                ids = self.store.write_table(self.sequence, IDS, pa.concat_tables(id_tables))
            merged_segment = Segment(
                older.first, newer.end, older.events + newer.events, files, ids
            )
            self.sealed[:2] = [merged_segment]

    def _duckdb(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            self._connection = duckdb.connect(config={"threads": 1})
        return self._connection

    def _repoint(self, state: SliceState) -> SlicePointer:
        previous = self.pointer
        segments = (*self.sealed, *((self.open,) if self.open else ()))
        pointer = SlicePointer(
            generation=self.store.generation,
            slice_id=self.store.slice_id,
            base_version=state.base_version,
            next_offset=state.next_offset,
            events=state.events,
            written_at=utc_now_text(),
            segments=segments,
            fingerprints=dict(state.fingerprints),
            missing=state.missing,
            owner=self.owner,
            sequence=self.sequence,
        )
        self.store.publish(pointer)
        self.pointer = pointer
        if previous is not None:
            self.store.retire(previous.names() - pointer.names())
        self.store.collect(pointer.names())
        return pointer
