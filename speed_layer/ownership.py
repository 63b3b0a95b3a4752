"""Which partitions this replica owns, following the live replicas (``membership``): taking a
partition over (continuing its last snapshot, or building it anew from its batch version),
giving one up after a last snapshot, and dropping one whose snapshot files cannot be read.
The replica owning the lowest partition also keeps the slice of earlier topic generations.
"""

import contextlib
import logging
import os
import time
from collections.abc import Callable

from prometheus_client import Gauge

from common.errors import DamagedFile
from common.model.views import Catalog
from common.runtime.kafka import TopicConsumer
from common.storage.lake import BatchVersion, Lake
from common.storage.locks import try_lock
from common.storage.speed_store import SlicePointer, SliceStore
from speed_layer.folding import LAG
from speed_layer.history import EarlierSlice, History
from speed_layer.membership import Membership, assignment
from speed_layer.owned_slice import OwnedSlice
from speed_layer.slice_state import SliceState
from speed_layer.snapshots import SlicePublisher

log = logging.getLogger("speed")

OWNED = Gauge("lambda_speed_partitions", "Partitions this replica owns")


class Ownership:
    """The slices this replica owns (``slices``, shared with the live path and switching)."""

    def __init__(
        self,
        lake: Lake,
        generation: int,
        catalog: Catalog,
        membership: Membership,
        slices: dict[int, OwnedSlice],
        consumer: TopicConsumer,
        history: History,
        earlier: EarlierSlice,
        let_go: Callable[[int], None],
    ) -> None:
        self.lake = lake
        self.generation = generation
        self.catalog = catalog
        self.membership = membership
        self.slices = slices
        self.consumer = consumer
        self.history = history
        self.earlier = earlier
        self.let_go = let_go
        """Called with a partition this replica stops owning (a switch of it stops)."""

    @property
    def id(self) -> str:
        return self.membership.id

    def rebalance(self, manifest: BatchVersion | None) -> None:
        """Take the partitions the assignment gives this replica, and give up the others."""
        partitions = self.consumer.partitions()
        mine = set(assignment(self.membership.live(), partitions)[self.id])
        for partition in sorted(set(self.slices) - mine):
            self.release(partition)
        for partition in sorted(mine - set(self.slices)):
            self._acquire(partition, manifest)
        if partitions and min(partitions) in self.slices:
            if not self.earlier.held:
                self.earlier.refresh(manifest)
        else:
            self.earlier.release()
        OWNED.set(len(self.slices))
        self.membership.report(list(self.slices))

    def _acquire(self, partition: int, manifest: BatchVersion | None) -> None:
        """Take a partition over: continue its last snapshot, or build it anew."""
        store = SliceStore(self.lake, self.generation, partition)
        fd = try_lock(store.lock_path)
        if fd is None:
            return  # its previous owner has not let go yet: next round
        publisher = SlicePublisher(store, self.catalog, self.id)
        pointer = publisher.pointer
        owned = OwnedSlice(partition, publisher, fd)
        seen = self._readable_ids(store, pointer)
        if pointer is not None and seen is not None:
            owned.current = SliceState(
                self.catalog, pointer.base_version, pointer.next_offset, seen, pointer.missing
            )
        else:
            base = manifest
            start = base.next_offsets(self.generation).get(partition, 0) if base else 0
            owned.pending = SliceState(self.catalog, base.version if base else None, start)
        store.retire_unreferenced(pointer)
        self.slices[partition] = owned
        self.history.assign(self.consumer, partition, owned.fed_by_main)
        if owned.current is None:
            owned.publish_pending_if_caught_up()
        log.info(
            "partition %d taken over at offset %d (%s) in %.2fs",
            partition,
            owned.fed_by_main.next_offset,
            "from its snapshot" if owned.current else "built from the batch version",
            time.monotonic() - owned.started,
        )

    def _readable_ids(self, store: SliceStore, pointer: SlicePointer | None) -> set[str] | None:
        """The ids of a snapshot this replica can continue (of the current views, every file
        readable), else None: the partition is then built anew from its batch version."""
        if pointer is None or pointer.fingerprints != self.catalog.fingerprints():
            return None
        damaged = store.damaged(pointer)
        try:
            if damaged is None:
                return store.read_ids(pointer.segments)
        except (FileNotFoundError, DamagedFile) as exc:
            damaged = exc if isinstance(exc, DamagedFile) else DamagedFile(exc.filename, "missing")
        log.error("partition %s: its snapshot cannot be read (%s); building it anew",
                  pointer.slice_id, damaged)  # fmt: skip
        return None

    def check_snapshot_files(self) -> None:
        """A partition whose served snapshot names a file that cannot be read is dropped
        without a last snapshot and taken over again at the next rebalance, which builds it
        anew from its batch version (serving leaves that snapshot out meanwhile)."""
        for partition, owned in list(self.slices.items()):
            pointer = owned.publisher.pointer
            if pointer is None or owned.current is None:
                continue  # nothing served of its own yet, or being built anew already
            damaged = owned.publisher.store.damaged(pointer)
            if damaged is not None:
                log.error("partition %d: %s; building it anew", partition, damaged)
                self._drop(partition)

    def _drop(self, partition: int) -> None:
        """Let a partition go as it is (no last snapshot): the next rebalance takes it again."""
        owned = self.slices.pop(partition)
        self.let_go(partition)
        self.consumer.unassign([partition])
        os.close(owned.lock_fd)

    def release(self, partition: int) -> None:
        """Give a partition up after a last snapshot, for its next owner to continue."""
        owned = self.slices.pop(partition)
        owned.publish_if_moved()
        self.let_go(partition)
        self.consumer.unassign([partition])
        with contextlib.suppress(KeyError):
            LAG.remove(str(partition))
        os.close(owned.lock_fd)
        log.info("partition %d released", partition)

    def release_all(self) -> None:
        """Give every slice up (at a stop): what was read before it is served after it."""
        for partition in list(self.slices):
            self.release(partition)
        self.earlier.release()
