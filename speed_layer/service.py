"""A speed-layer replica: owns some partitions, folds their events, snapshots each on its own.

Each owned partition (a slice) has a state reflecting exactly the events after the offsets of
its base batch version, published as its own snapshots (offset-range segments). When a newer
batch version is published, the replica switches one partition at a time: segments the
version covers are dropped, and the one it covers in part is read again from the version's
offset with a second consumer while the old state keeps being served and kept current; the
new state replaces it only once that read is done, so the answers never lose an event they
have shown and never stop getting fresher. Which replica owns which
partition follows the live replicas (``speed_layer.membership``); a slice that changes
owner continues from its last snapshot.
"""

import contextlib
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from common.errors import DamagedFile, EventError
from common.lifecycle import run_service, stop_event_on_signals
from common.model.events import Event, decode_event
from common.model.views import Catalog, load_catalog
from common.monitoring.prometheus import BUSY
from common.runtime.kafka import OffsetsOutOfRange, TopicConsumer
from common.runtime.timers import Every
from common.storage.lake import BatchVersion, Lake
from common.storage.locks import try_lock
from common.storage.master import archived_after, events_of
from common.storage.speed_store import (
    EARLIER,
    Segment,
    SlicePointer,
    SliceStore,
    remove_stale,
)
from speed_layer.membership import Membership, assignment
from speed_layer.settings import SpeedSettings
from speed_layer.slice_state import SliceState
from speed_layer.snapshots import SlicePublisher

log = logging.getLogger("speed")

RECORDS = Counter("lambda_speed_records_total", "Records read from the topic and folded in")
REJECTED = Counter("lambda_speed_rejected_total", "Records skipped: not events")
BATCH_SECONDS = Histogram(
    "lambda_speed_batch_seconds",
    "Time to decode and fold one poll's records (a micro-batch)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LAG = Gauge(
    "lambda_speed_lag", "Records on the topic not folded in yet, per partition", ["partition"]
)
OWNED = Gauge("lambda_speed_partitions", "Partitions this replica owns")
FRESHNESS = Histogram(
    "lambda_speed_freshness_seconds",
    "From a record's timestamp (its receipt by ingest) to the snapshot that serves it",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
)
MANIFEST_CHECK_SECONDS = 0.2
REBALANCE_SECONDS = 0.5
DAMAGE_CHECK_SECONDS = 2.0
"""How often a replica checks that the files its served snapshots name can be read."""
CATCH_UP_RECORDS = 1_000
"""Records a new state reads per loop turn while it is built: the live path never waits
longer than one such chunk."""


@dataclass
class Rebuild:
    """A sealed segment read again from a new batch version's offset ``first`` to its end."""

    version: BatchVersion
    first: int
    end: int
    state: SliceState


@dataclass
class OwnedSlice:
    """A partition this replica owns: the state served (``current``), or one built from a
    batch version's offsets that is served once it has read as far as the snapshot already
    served (``pending``); and while it switches to a newer version, the segment read again."""

    partition: int
    publisher: SlicePublisher
    lock_fd: int
    current: SliceState | None = None
    pending: SliceState | None = None
    rebuild: Rebuild | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def fed_by_main(self) -> SliceState:
        """The state the main consumer's records of this partition go to."""
        state = self.current or self.pending
        assert state is not None
        return state


class SpeedReplica:
    """One speed-layer process of a data directory."""

    def __init__(
        self,
        settings: SpeedSettings,
        lake: Lake,
        catalog: Catalog,
        replica_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.lake = lake
        self.catalog = catalog
        self.generation = lake.read_generation()
        self.membership = Membership(lake, replica_id)
        self.slices: dict[int, OwnedSlice] = {}
        self.manifest: BatchVersion | None = lake.read_manifest()
        self.building: int | None = None  # the partition the catch-up consumer reads
        self.earlier_fd: int | None = None
        self.earlier: SlicePublisher | None = None
        self.stop = threading.Event()
        self.rebalance_seconds = REBALANCE_SECONDS
        self._unserved: list[int] = []  # timestamps (ms) of records folded since the snapshot

    @property
    def id(self) -> str:
        return self.membership.id

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        self.membership.join()
        consumer = TopicConsumer.connect(self.settings, max_poll_records=20_000)
        catch_up = TopicConsumer.connect(self.settings, max_poll_records=CATCH_UP_RECORDS)
        try:
            self._run(consumer, catch_up, stop)
        finally:
            consumer.close()
            catch_up.close()
            self.membership.leave()

    def _run(self, consumer: TopicConsumer, catch_up: TopicConsumer, stop: threading.Event) -> None:
        self.consumer, self.catch_up = consumer, catch_up
        remove_stale(self.lake, self.generation)
        log.info("speed replica %s started", self.id)
        rebalance = Every(self.rebalance_seconds)
        manifest_check = Every(MANIFEST_CHECK_SECONDS)
        snapshot = Every(self.settings.speed_snapshot_seconds)
        damage_check = Every(DAMAGE_CHECK_SECONDS)
        try:
            self._check_manifest()
            self._rebalance()
            while not stop.is_set():
                self._poll_main()
                with BUSY.working():
                    if manifest_check.due():
                        self._check_manifest()
                    self._build_step()
                    if rebalance.due():
                        self._rebalance()
                    if snapshot.due():
                        self._publish_all()
                    if damage_check.due():
                        self._check_snapshot_files()
        finally:
            for partition in list(self.slices):
                self._release(partition)  # what was read before the stop is served after it
            self._release_earlier()

    # -- the live path ------------------------------------------------------------------
    def _poll_main(self) -> None:
        if not self.consumer.assigned:
            self.stop.wait(0.1)
            return
        batches = self._poll(self.consumer, 50)
        with BUSY.working():
            self._fold_polled(batches)

    def _fold_polled(self, batches: dict[int, list]) -> None:
        for partition, records in batches.items():
            owned = self.slices.get(partition)
            if owned is not None:
                self._fold(owned.fed_by_main, records)
                if owned.current is None:
                    self._publish_pending_if_caught_up(owned)
                else:  # served at the next snapshot
                    self._unserved += [t for r in records if (t := getattr(r, "timestamp", 0))]
        for partition, behind in self.consumer.lag().items():
            LAG.labels(str(partition)).set(behind)

    def _poll(self, consumer: TopicConsumer, timeout_ms: int) -> dict[int, list]:
        try:
            return consumer.poll(timeout_ms=timeout_ms)
        except OffsetsOutOfRange as exc:
            consumer.log_starts_past(exc)
            log.warning("retention deleted offsets not read yet: %s", exc.positions)
            for partition in exc.positions:
                owned = self.slices.get(partition)
                if owned is None:
                    continue
                if consumer is self.catch_up and owned.rebuild is not None:
                    rebuild = owned.rebuild
                    self._assign(consumer, partition, rebuild.state, rebuild.end)
                elif consumer is self.consumer:
                    self._assign(consumer, partition, owned.fed_by_main)
            return {}

    def _fold(self, state: SliceState, records: list, again: bool = False) -> None:
        """Fold records in; ``again``: a switch re-reads them (not new input: not counted)."""
        if not records:
            return
        started = time.perf_counter()
        for record in records:
            state.apply_record(record.offset, self._decode(record))
        if not again:
            RECORDS.inc(len(records))
            BATCH_SECONDS.observe(time.perf_counter() - started)

    @staticmethod
    def _decode(record: object) -> Event | None:
        try:
            return decode_event(record.value)  # type: ignore[attr-defined]
        except EventError as exc:
            REJECTED.inc()
            log.warning(
                "skipped record %d of partition %d: %s",
                record.offset,  # type: ignore[attr-defined]
                record.partition,  # type: ignore[attr-defined]
                exc,
            )
            return None

    def _publish_all(self) -> None:
        for owned in self.slices.values():
            self._publish_if_moved(owned)
        now_ms = time.time() * 1000
        for timestamp in self._unserved:
            FRESHNESS.observe(max(0.0, (now_ms - timestamp) / 1000))
        self._unserved = []

    @staticmethod
    def _publish_if_moved(owned: OwnedSlice) -> None:
        """Publish the served state if it moved since its last snapshot."""
        state, pointer = owned.current, owned.publisher.pointer
        if state is None:
            return
        if (
            state.changed
            or pointer is None
            or pointer.next_offset != state.next_offset
            or pointer.missing != state.missing
        ):
            owned.publisher.publish(state)

    # -- switching to a newer batch version, one partition at a time --------------------
    def _check_manifest(self) -> None:
        manifest = self.lake.read_manifest()
        if manifest is None or not _newer(manifest.version, self.manifest):
            return
        self.manifest = manifest
        if self.earlier_fd is not None:
            self._refresh_earlier()

    def _build_step(self) -> None:
        """Start the next partition's switch, or read one chunk into the one under way."""
        if self.building is None:
            self._start_next_switch()
            return
        owned = self.slices.get(self.building)
        rebuild = owned.rebuild if owned else None
        if owned is None or rebuild is None:
            self._stop_building()
            return
        records = self._poll(self.catch_up, 10).get(owned.partition, [])
        self._fold(rebuild.state, [r for r in records if r.offset < rebuild.end], again=True)
        if self.catch_up.positions().get(owned.partition, 0) >= rebuild.end:
            rebuild.state.next_offset = rebuild.end  # offsets without a record included
            segment = owned.publisher.write_segment(rebuild.state, rebuild.first, rebuild.end)
            self._finish_switch(owned, rebuild.version, rebuild.end, segment)

    def _start_next_switch(self) -> None:
        """Switch the first partition whose state is on an older batch version than the
        newest: segments the new version covers whole are dropped, the one it covers in part
        is read again from its offset (by the catch-up consumer, a chunk per loop turn, while
        the old state keeps being served and fed), and the rest are kept."""
        manifest = self.manifest
        if manifest is None:
            return
        owned = next(
            (
                o
                for o in self.slices.values()
                if o.current is not None
                and o.rebuild is None
                and _newer(manifest.version, o.current.base_version)
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
            self._finish_switch(owned, manifest, covered, None)
            return
        owned.publisher.merging = False  # the segments must keep their bounds meanwhile
        owned.rebuild = Rebuild(
            manifest, covered, straddling.end, SliceState(self.catalog, manifest.version, covered)
        )
        self.building = owned.partition
        self._assign(self.catch_up, owned.partition, owned.rebuild.state, straddling.end)

    def _finish_switch(
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

    def _log_switch(self, owned: OwnedSlice, previous: str | None, read_again: int) -> None:
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

    def _publish_pending_if_caught_up(self, owned: OwnedSlice) -> None:
        """A slice with nothing of its own to continue is served once its new state has read
        as far as the pointer already served (never going back on what answers showed)."""
        pending = owned.pending
        if pending is not None and pending.next_offset >= owned.publisher.published_offset:
            owned.publisher.publish(pending, fresh=True)
            owned.current, owned.pending = pending, None
            log.info(
                "partition %d served from offset %d on batch version %s",
                owned.partition,
                pending.next_offset,
                pending.base_version,
            )

    # -- ownership ------------------------------------------------------------------------
    def _rebalance(self) -> None:
        partitions = self.consumer.partitions()
        mine = set(assignment(self.membership.live(), partitions)[self.id])
        for partition in sorted(set(self.slices) - mine):
            self._release(partition)
        for partition in sorted(mine - set(self.slices)):
            self._acquire(partition)
        if partitions and min(partitions) in self.slices:
            if self.earlier_fd is None:
                self._refresh_earlier()
        else:
            self._release_earlier()
        OWNED.set(len(self.slices))
        self.membership.report(list(self.slices))

    def _acquire(self, partition: int) -> None:
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
            base = self.manifest
            start = base.next_offsets(self.generation).get(partition, 0) if base else 0
            owned.pending = SliceState(self.catalog, base.version if base else None, start)
        store.retire_unreferenced(pointer)
        self.slices[partition] = owned
        self._assign(self.consumer, partition, owned.fed_by_main)
        if owned.current is None:
            self._publish_pending_if_caught_up(owned)
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

    def _check_snapshot_files(self) -> None:
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
        if self.building == partition:
            self._stop_building()
        self.consumer.unassign([partition])
        os.close(owned.lock_fd)

    def _release(self, partition: int) -> None:
        """Give a partition up after a last snapshot, for its next owner to continue."""
        owned = self.slices.pop(partition)
        self._publish_if_moved(owned)
        if self.building == partition:
            self._stop_building()
        self.consumer.unassign([partition])
        with contextlib.suppress(KeyError):
            LAG.remove(str(partition))
        os.close(owned.lock_fd)
        log.info("partition %d released", partition)

    # -- the slice of earlier topic generations ------------------------------------------
    def _refresh_earlier(self) -> None:
        """Build the earlier generations' state on the newest batch version, if it is not."""
        if self.earlier_fd is None:
            store = SliceStore(self.lake, self.generation, EARLIER)
            self.earlier_fd = try_lock(store.lock_path)
            if self.earlier_fd is None:
                return
            self.earlier = SlicePublisher(store, self.catalog, self.id)
            store.retire_unreferenced(self.earlier.pointer)
        assert self.earlier is not None
        pointer = self.earlier.pointer
        base = self.manifest
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
        self.earlier.publish(state, fresh=True)
        log.info("earlier topic generations: %d events no batch covers", state.events)

    def _release_earlier(self) -> None:
        if self.earlier_fd is not None:
            os.close(self.earlier_fd)
            self.earlier_fd, self.earlier = None, None

    # -- reading from a start offset: the archive holds what the log no longer does ------
    def _assign(
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
                self._lost(state, partition, f.first)
            events = events_of(f, start=state.next_offset, end=stop)
            if events is None:  # damaged, now quarantined: the log no longer holds it either
                self._lost(state, partition, min(f.end, stop))
                continue
            for event in events:
                state.apply(event)
            state.next_offset = min(f.end, stop)
        if state.next_offset < stop:
            self._lost(state, partition, stop)

    @staticmethod
    def _lost(state: SliceState, partition: int, end: int) -> None:
        log.error(
            "partition %d offsets %d-%d: deleted by retention before they were archived; "
            "no layer has them: answers lack them and the lag counts them",
            partition,
            state.next_offset,
            end - 1,
        )
        state.skip(state.next_offset, end)


def _newer(version: str, than: "BatchVersion | str | None") -> bool:
    """Whether batch ``version`` is newer than ``than`` (a version, its name, or none):
    version names are zero-padded numbers, so they compare as text."""
    if isinstance(than, BatchVersion):
        than = than.version
    return than is None or version > than


def serve() -> None:
    """Run one speed-layer replica until SIGTERM/SIGINT."""
    settings = SpeedSettings()
    log.info("starting with %s", settings.describe())
    lake = Lake(settings.data_dir)
    lake.ensure()
    SpeedReplica(settings, lake, load_catalog(settings.views_file)).run(stop_event_on_signals())


def main() -> int:
    return run_service("speed", serve)


if __name__ == "__main__":
    sys.exit(main())
