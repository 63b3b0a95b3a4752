"""What the log no longer holds: read from the master dataset (the archive) instead.

A partition is read from a start offset: the archived events before the log start first,
then the log (``History.assign``); offsets retention deletes while a consumer reads are read
again that way (``poll``). The slice of earlier topic generations (``EarlierSlice``) holds
only archived events: those no batch version covers.
"""

import logging
import os
from collections.abc import Callable

from common.model.views import Catalog
from common.runtime.kafka import OffsetsOutOfRange, TopicConsumer
from common.storage.lake import BatchVersion, Lake
from common.storage.locks import try_lock
from common.storage.master import archived_after, events_of
from common.storage.speed_store import EARLIER, SliceStore
from speed_layer.slice_state import SliceState
from speed_layer.snapshots import SlicePublisher

log = logging.getLogger("speed")


def poll(
    consumer: TopicConsumer, timeout_ms: int, restart: Callable[[int], None]
) -> dict[int, list]:
    """One poll's records by partition; when retention deleted offsets not read yet, none,
    and ``restart`` is called for each such partition (to read it again from the archive)."""
    try:
        return consumer.poll(timeout_ms=timeout_ms)
    except OffsetsOutOfRange as exc:
        consumer.log_starts_past(exc)
        log.warning("retention deleted offsets not read yet: %s", exc.positions)
        for partition in exc.positions:
            restart(partition)
        return {}


class History:
    """Reads a partition of one topic generation from a start offset, archive first."""

    def __init__(self, lake: Lake, generation: int) -> None:
        self.lake = lake
        self.generation = generation

    def assign(
        self,
        consumer: TopicConsumer,
        partition: int,
        state: SliceState,
        until: int | None = None,
    ) -> None:
        """Read ``partition`` into ``state`` from its next offset (up to ``until``): from the
        archive what the log no longer holds, then from the log."""
        log_start = consumer.beginning_offsets([partition])[partition]
        if state.next_offset < log_start:
            self._read_archive(state, partition, min(log_start, until or log_start))
        consumer.assign({partition: state.next_offset})

    def _read_archive(self, state: SliceState, partition: int, stop: int) -> None:
        """Fold in the archived events of ``partition`` up to ``stop`` (the log start, which
        the log no longer holds). Offsets that neither holds (the archiver was behind
        retention) are an error, counted as missing."""
        for f in archived_after(self.lake, self.generation, partition, state.next_offset):
            if state.next_offset >= stop or f.first > stop:
                break  # the log holds the rest
            if f.first > state.next_offset:
                _lost(state, partition, f.first)
            events = events_of(f, start=state.next_offset, end=stop)
            if events is None:  # damaged, now quarantined: the log no longer holds it either
                _lost(state, partition, min(f.end, stop))
                continue
            for event in events:
                state.apply(event)
            state.next_offset = min(f.end, stop)
        if state.next_offset < stop:
            _lost(state, partition, stop)


def _lost(state: SliceState, partition: int, end: int) -> None:
    log.error(
        "partition %d offsets %d-%d: deleted by retention before they were archived; "
        "no layer has them: answers lack them and the lag counts them",
        partition,
        state.next_offset,
        end - 1,
    )
    state.skip(state.next_offset, end)


class EarlierSlice:
    """The slice of earlier topic generations: their archived events that the newest batch
    version does not cover, kept by the replica that owns the lowest partition."""

    def __init__(self, lake: Lake, generation: int, catalog: Catalog, owner: str) -> None:
        self.lake = lake
        self.generation = generation
        self.catalog = catalog
        self.owner = owner
        self.fd: int | None = None
        self.publisher: SlicePublisher | None = None

    @property
    def held(self) -> bool:
        """Whether this replica holds the slice's lock (and so keeps it)."""
        return self.fd is not None

    def refresh(self, base: BatchVersion | None) -> None:
        """Build the earlier generations' state on batch version ``base``, if it is not."""
        if self.fd is None:
            store = SliceStore(self.lake, self.generation, EARLIER)
            self.fd = try_lock(store.lock_path)
            if self.fd is None:
                return
            self.publisher = SlicePublisher(store, self.catalog, self.owner)
            store.retire_unreferenced(self.publisher.pointer)
        assert self.publisher is not None
        pointer = self.publisher.pointer
        version = base.version if base else None
        fingerprints = self.catalog.fingerprints()
        if pointer and pointer.base_version == version and pointer.fingerprints == fingerprints:
            return
        backlog = self.lake.backlog(self.generation, base.covered() if base else {})
        if not backlog and pointer is None:
            return  # no earlier generation holds anything the batch lacks
        state = SliceState(self.catalog, version)
        for f, start in backlog:
            for event in events_of(f, start=start) or ():  # None: damaged, quarantined
                state.apply(event)
        self.publisher.publish(state, fresh=True)
        log.info("earlier topic generations: %d events no batch covers", state.events)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd, self.publisher = None, None
