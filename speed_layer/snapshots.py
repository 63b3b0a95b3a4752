"""Publishing one slice's state: what changed as new files of its chain, then its pointer."""

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.speed_store import SlicePointer, SliceStore
from common.state_tables import combine_files
from common.timeutil import utc_now_text
from common.views import Catalog
from speed_layer.slice_state import SliceState

MAX_CHAIN = 6
"""Files a view's chain may hold before its tail (or all of it) is combined into one."""

Chain = tuple[str, ...]


class SlicePublisher:
    """Writes a slice's snapshots: each one costs what changed since the one before."""

    def __init__(self, store: SliceStore, catalog: Catalog, owner: str) -> None:
        self.store = store
        self.catalog = catalog
        self.owner = owner
        self.pointer = store.read()
        self.sequence = self.pointer.sequence if self.pointer else 0

    @property
    def published_offset(self) -> int:
        """The offset the served state reflects (0 when nothing is served)."""
        return self.pointer.next_offset if self.pointer else 0

    def publish(self, state: SliceState, fresh: bool = False) -> SlicePointer:
        """Publish ``state``: its changes appended to the chain, or (``fresh``, a state built
        anew) as a chain of its own."""
        previous = self.pointer
        keep = previous is not None and not fresh
        files = dict(previous.files) if keep and previous else {}
        ids = previous.ids if keep and previous else ()
        self.sequence += 1
        tables, new_ids = state.take_delta()
        for view in self.catalog.views:
            chain = files.get(view.name, ())
            if view.name in tables:
                written = self.store.write_table(self.sequence, view.name, tables[view.name])
                chain = (*chain, written)
            files[view.name] = self._compact(chain, lambda paths, v=view: combine_files(v, paths))
        if new_ids:
            ids = (*ids, self.store.write_ids(self.sequence, new_ids))
        ids = self._compact(ids, _concat_ids)
        pointer = SlicePointer(
            generation=self.store.generation,
            partition=self.store.partition,
            base_version=state.base_version,
            next_offset=state.next_offset,
            events=state.events,
            written_at=utc_now_text(),
            files={name: files[name] for name in self.catalog.fingerprints()},
            ids=ids,
            fingerprints=dict(state.fingerprints),
            missing=state.missing,
            owner=self.owner,
            sequence=self.sequence,
        )
        self.store.publish(pointer)
        self.pointer = pointer
        if previous is not None:
            self.store.retire(_names(previous) - _names(pointer))
        self.store.collect()
        return pointer

    def _compact(self, chain: Chain, combine: Callable[[list[Path]], pa.Table]) -> Chain:
        """Past ``MAX_CHAIN`` files, the tail is combined into one file, or the whole chain
        when the tail has grown to half the first file: each row is rewritten a bounded
        number of times, as in a log-structured merge."""
        if len(chain) <= MAX_CHAIN:
            return chain
        sizes = [self.store.path(name).stat().st_size for name in chain]
        start = 0 if 2 * sum(sizes[1:]) >= sizes[0] else 1
        paths = [self.store.path(name) for name in chain[start:]]
        what = chain[-1].split(".")[1]
        self.sequence += 1
        merged = self.store.write_table(self.sequence, what, combine(paths))
        return (*chain[:start], merged)


def _concat_ids(paths: list[Path]) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in paths)


def _names(pointer: SlicePointer) -> set[str]:
    return {name for chain in pointer.files.values() for name in chain} | set(pointer.ids)
