"""The speed-layer process: consume, fold, snapshot; rebuild onto every new batch version.

The state always reflects exactly the events after the offsets of its base batch version
(plus archived events of earlier topic generations that no batch covers yet). When a newer
batch version is published, a fresh state is built from that version's offsets up to at
least the position already served, and only then does a snapshot name the new base, so the
serving layer's answers never lose an event they have shown.
"""

import logging
import sys
import threading
import time

from prometheus_client import Counter, Gauge, Histogram

from common.errors import EventError
from common.events import decode_event
from common.kafka import OffsetsOutOfRange, TopicConsumer
from common.lake import BatchVersion, Lake
from common.lifecycle import run_service, stop_event_on_signals
from common.locks import exclusive
from common.master import archived_after, read_events
from common.views import Catalog, load_catalog
from speed_layer.settings import SpeedSettings
from speed_layer.snapshots import SnapshotWriter
from speed_layer.speed_state import SpeedState

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
MANIFEST_CHECK_SECONDS = 0.2
CATCH_UP_STALL_SECONDS = 10.0


class SpeedLayer:
    """Keeps the speed views of one data directory and publishes their snapshots."""

    def __init__(self, settings: SpeedSettings, lake: Lake, catalog: Catalog) -> None:
        self.settings = settings
        self.lake = lake
        self.catalog = catalog
        self.generation = lake.read_generation()
        self.writer = SnapshotWriter(lake, settings.speed_keep_snapshots)
        self.state = SpeedState(catalog)
        self.base: BatchVersion | None = None
        self.written_offsets: dict[int, int] | None = None
        self.stop = threading.Event()
        # False while the consumer's positions do not match self.state (before the first
        # build, and during a rebuild): no snapshot may be written then.
        self.consistent = False

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        with exclusive(self.lake.speed / ".lock", "speed layer"):
            consumer = TopicConsumer.connect(self.settings, max_poll_records=20_000)
            try:
                self._run(consumer, stop)
            finally:
                consumer.close()

    def _run(self, consumer: TopicConsumer, stop: threading.Event) -> None:
        consumer.assign(dict.fromkeys(consumer.partitions(), 0))
        previous = self.lake.read_speed_pointer()
        served = previous.offsets if previous and previous.generation == self.generation else {}
        self._rebuild(consumer, self.lake.read_manifest(), served)
        last_write = last_check = time.monotonic()
        while not stop.is_set():
            self._poll(consumer, self.state, timeout_ms=50)
            self._add_new_partitions(consumer)
            now = time.monotonic()
            if now - last_check >= MANIFEST_CHECK_SECONDS:
                last_check = now
                manifest = self.lake.read_manifest()
                if manifest is not None and (
                    self.base is None or manifest.version != self.base.version
                ):
                    self._rebuild(consumer, manifest, consumer.positions())
            if now - last_write >= self.settings.speed_snapshot_seconds:
                last_write = now
                self._snapshot(consumer)
        self._snapshot(consumer)  # what was read before the stop is served after it

    def _poll(self, consumer: TopicConsumer, state: SpeedState, timeout_ms: int) -> int:
        try:
            batches = consumer.poll(timeout_ms=timeout_ms)
        except OffsetsOutOfRange as exc:
            self._past_retention(consumer, state, exc)
            return 0
        started = time.perf_counter()
        count = 0
        for records in batches.values():
            for record in records:
                try:
                    state.apply(decode_event(record.value))
                except EventError as exc:
                    REJECTED.inc()
                    log.warning(
                        "skipped record %d of partition %d: %s",
                        record.offset,
                        record.partition,
                        exc,
                    )
                count += 1
        if count:
            RECORDS.inc(count)
            BATCH_SECONDS.observe(time.perf_counter() - started)
        for partition, behind in consumer.lag().items():
            LAG.labels(str(partition)).set(behind)
        return count

    def _snapshot(self, consumer: TopicConsumer, force: bool = False) -> None:
        if not self.consistent:
            return
        offsets = consumer.positions()
        changed = any(v.changed for v in self.state.views.values())
        if force or changed or offsets != self.written_offsets:
            base = self.base.version if self.base else None
            self.writer.write(self.state, base, self.generation, offsets)
            self.written_offsets = offsets

    def _rebuild(
        self, consumer: TopicConsumer, manifest: BatchVersion | None, target: dict[int, int]
    ) -> None:
        """Build the state for ``manifest`` from its offsets up to at least ``target``."""
        started = time.monotonic()
        self.consistent = False
        state = SpeedState(self.catalog)
        backlog = self._apply_backlog(state, manifest)
        starts = manifest.next_offsets(self.generation) if manifest else {}
        self._start(consumer, state, {p: starts.get(p, 0) for p in consumer.assigned})
        if not self._catch_up(consumer, state, target):
            return  # stopped: the old pair stays served
        self.state, self.base = state, manifest
        self.consistent = True
        self.writer.forget_previous()
        self._snapshot(consumer, force=True)
        log.info(
            "speed views rebuilt on batch version %s: %d events (%d from earlier generations) "
            "in %.1fs",
            manifest.version if manifest else "none",
            state.events,
            backlog,
            time.monotonic() - started,
        )

    def _start(self, consumer: TopicConsumer, state: SpeedState, starts: dict[int, int]) -> None:
        """Assign (or seek) partitions to the offsets ``state`` continues from; what the log
        no longer holds is read from the archive, and Kafka continues where that ends."""
        log_starts = consumer.beginning_offsets(starts)
        consumer.assign(
            {
                p: self._read_archive(state, p, offset, log_starts[p])
                if offset < log_starts[p]
                else offset
                for p, offset in starts.items()
            }
        )

    def _read_archive(self, state: SpeedState, partition: int, first: int, log_start: int) -> int:
        """Fold in the archived events of ``partition`` from ``first`` up to the log start,
        which the log no longer holds; return where reading the log goes on. Offsets that
        neither the log nor the archive holds (the archiver was behind retention) are an
        error, counted as missing."""
        position = first
        for f in archived_after(self.lake, self.generation, partition, first):
            if position >= log_start or f.first > log_start:
                break  # the log holds the rest
            if f.first > position:
                self._lost(state, partition, position, f.first)
            for event in read_events(f.path, start=position):
                state.apply(event)
            position = f.end
        if position < log_start:
            self._lost(state, partition, position, log_start)
            position = log_start
        return position

    @staticmethod
    def _lost(state: SpeedState, partition: int, first: int, end: int) -> None:
        """Offsets ``first`` to ``end`` - 1 are in neither the log nor the archive."""
        log.error(
            "partition %d offsets %d-%d: deleted by retention before they were archived; "
            "no layer has them: answers lack them and the lag counts them",
            partition,
            first,
            end - 1,
        )
        state.missing[partition] = state.missing.get(partition, 0) + end - first

    def _past_retention(
        self, consumer: TopicConsumer, state: SpeedState, exc: OffsetsOutOfRange
    ) -> None:
        """Positions retention deleted while this state was reading: go on from the archive."""
        consumer.log_starts_past(exc)
        log.warning("retention deleted offsets not read yet: %s", exc.positions)
        self._start(consumer, state, exc.positions)

    def _add_new_partitions(self, consumer: TopicConsumer) -> None:
        """Partitions added to the topic join at the base version's offsets (0 when new)."""
        new = consumer.new_partitions()
        if not new:
            return
        covered = self.base.next_offsets(self.generation) if self.base else {}
        starts = {p: covered.get(p, 0) for p in new}
        log.info("partitions added to the topic: reading them from %s", starts)
        self._start(consumer, self.state, starts)

    def _catch_up(self, consumer: TopicConsumer, state: SpeedState, target: dict[int, int]) -> bool:
        """Read into ``state`` up to ``target``; False if asked to stop first.

        A new state is never published short of what was served, so a stalled broker stalls
        the switch (and shows as lag) rather than making answers go backwards.
        """
        last_progress = time.monotonic()
        while not self.stop.is_set():
            positions = consumer.positions()
            if all(positions.get(p, 0) >= offset for p, offset in target.items()):
                return True
            if self._poll(consumer, state, timeout_ms=100):
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > CATCH_UP_STALL_SECONDS:
                log.warning("still catching up to offsets %s (at %s)", target, positions)
                last_progress = time.monotonic()
        return False

    def _apply_backlog(self, state: SpeedState, manifest: BatchVersion | None) -> int:
        """Fold in archived events of earlier topic generations that no batch covers."""
        applied = 0
        for f, start in self.lake.backlog(self.generation, manifest.covered() if manifest else {}):
            for event in read_events(f.path, start=start):
                applied += state.apply(event)
        return applied


def serve() -> None:
    """Run the speed layer until SIGTERM/SIGINT."""
    settings = SpeedSettings()
    lake = Lake(settings.data_dir)
    lake.ensure()
    SpeedLayer(settings, lake, load_catalog(settings.views_file)).run(stop_event_on_signals())


def main() -> int:
    return run_service("speed", serve)


if __name__ == "__main__":
    sys.exit(main())
