"""Switching to a newer batch version, one partition at a time.

Segments the new version covers whole are dropped, the one it covers in part is read again
from the version's offset by a second (catch-up) consumer, a chunk per loop turn, while the
old state keeps being served and fed by the live path; the new state replaces it only once
that read is done, so the answers never lose an event they have shown and never stop getting
fresher.
"""

import logging
import time

from common.model.views import Catalog
from common.runtime.kafka import TopicConsumer
from common.storage.lake import BatchVersion
from common.storage.speed_store import Segment
from speed_layer.folding import fold
from speed_layer.history import History, poll
from speed_layer.owned_slice import OwnedSlice, Rebuild
from speed_layer.slice_state import SliceState

log = logging.getLogger("speed")

CATCH_UP_RECORDS = 1_000
"""Records a new state reads per loop turn while it is built: the live path never waits
longer than one such chunk."""


def newer(version: str, than: "BatchVersion | str | None") -> bool:
    """Whether batch ``version`` is newer than ``than`` (a version, its name, or none):
    version names are zero-padded numbers, so they compare as text."""
    if isinstance(than, BatchVersion):
        than = than.version
    return than is None or version > than


class Switching:
    """Moves the owned slices onto the newest batch version, one partition at a time."""

    def __init__(
        self,
        generation: int,
        catalog: Catalog,
        slices: dict[int, OwnedSlice],
        consumer: TopicConsumer,
        catch_up: TopicConsumer,
        history: History,
    ) -> None:
        self.generation = generation
        self.catalog = catalog
        self.slices = slices
        self.consumer = consumer
        self.catch_up = catch_up
        self.history = history
        self.building: int | None = None  # the partition the catch-up consumer reads

    def step(self, manifest: BatchVersion | None) -> None:
        """Start the next partition's switch, or read one chunk into the one under way."""
        if self.building is None:
            self._start_next(manifest)
            return
        owned = self.slices.get(self.building)
        rebuild = owned.rebuild if owned else None
        if owned is None or rebuild is None:
            self._stop_building()
            return
        records = poll(self.catch_up, 10, self._restart).get(owned.partition, [])
        fold(rebuild.state, [r for r in records if r.offset < rebuild.end], again=True)
        if self.catch_up.positions().get(owned.partition, 0) >= rebuild.end:
            rebuild.state.next_offset = rebuild.end  # offsets without a record included
            segment = owned.publisher.write_segment(rebuild.state, rebuild.first, rebuild.end)
            self._finish(owned, rebuild.version, rebuild.end, segment)

    def forget(self, partition: int) -> None:
        """``partition`` is let go: a switch of it under way stops."""
        if self.building == partition:
            self._stop_building()

    def _restart(self, partition: int) -> None:
        owned = self.slices.get(partition)
        if owned is not None and owned.rebuild is not None:
            rebuild = owned.rebuild
            self.history.assign(self.catch_up, partition, rebuild.state, rebuild.end)

    def _start_next(self, manifest: BatchVersion | None) -> None:
        """Switch the first partition whose state is on an older batch version than the
        newest: segments the new version covers whole are dropped, the one it covers in part
        is read again from its offset (by the catch-up consumer, a chunk per loop turn, while
        the old state keeps being served and fed), and the rest are kept."""
        if manifest is None:
            return
        owned = next(
            (
                o
                for o in self.slices.values()
                if o.current is not None
                and o.rebuild is None
                and newer(manifest.version, o.current.base_version)
            ),
            None,
        )
        if owned is None or owned.current is None:
            return
        covered = manifest.next_offsets(self.generation).get(owned.partition, 0)
        current = owned.current
        owned.started = time.monotonic()
        if covered >= current.next_offset:  # the batch holds everything the state has
            fresh = SliceState(self.catalog, manifest.version, covered, missing=current.missing)
            owned.publisher.publish(fresh, fresh=True)
            owned.current = fresh
            self.consumer.seek(owned.partition, covered)
            self._log_switch(owned, current.base_version, 0)
            return
        owned.publisher.publish(current, seal=True)  # what the live path adds is kept
        straddling = next((s for s in owned.publisher.sealed if s.first < covered < s.end), None)
        if straddling is None:
            self._finish(owned, manifest, covered, None)
            return
        owned.publisher.merging = False  # the segments must keep their bounds meanwhile
        owned.rebuild = Rebuild(
            manifest, covered, straddling.end, SliceState(self.catalog, manifest.version, covered)
        )
        self.building = owned.partition
        self.history.assign(self.catch_up, owned.partition, owned.rebuild.state, straddling.end)

    def _finish(
        self, owned: OwnedSlice, version: BatchVersion, keep_from: int, read: Segment | None
    ) -> None:
        """Serve the state on ``version``: the segment read again, then those kept."""
        current = owned.current
        assert current is not None
        publisher = owned.publisher
        kept = [s for s in publisher.sealed if s.first >= keep_from]
        segments = ([read] if read is not None and read.events else []) + kept
        previous = current.base_version
        current.seen = owned.publisher.store.read_ids(segments) | set(current.open_ids)
        current.base_version = version.version
        publisher.merging = True
        publisher.replace_sealed(current, segments)
        owned.rebuild = None
        if self.building == owned.partition:
            self._stop_building()
        self._log_switch(owned, previous, read.events if read else 0)

    @staticmethod
    def _log_switch(owned: OwnedSlice, previous: str | None, read_again: int) -> None:
        current = owned.current
        assert current is not None
        log.info(
            "partition %d switched to batch version %s at offset %d (%d events since it, %d of "
            "them read again; %.1fs; was on %s)",
            owned.partition,
            current.base_version,
            current.next_offset,
            current.events,
            read_again,
            time.monotonic() - owned.started,
            previous or "nothing",
        )

    def _stop_building(self) -> None:
        if self.building is not None:
            self.catch_up.unassign([self.building])
        self.building = None
