"""The archiver: the only writer of the master dataset.

It resumes from the files themselves (the highest archived offset of each partition), never
from a consumer group, so a kill at any moment leaves every (partition, offset) in exactly
one file: a file appears whole through an atomic rename, or not at all.
"""

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from batch_layer.rearchive import mend
from batch_layer.settings import BatchSettings
from common.errors import BrokerError
from common.lifecycle import run_service, stop_event_on_signals
from common.monitoring.prometheus import BUSY
from common.runtime.kafka import OffsetsOutOfRange, TopicConsumer
from common.runtime.timers import Every
from common.storage.lake import Lake
from common.storage.locks import exclusive
from common.storage.master import PartitionBuffer, remove_partial_files, write_master_file
from common.storage.quarantine import OffsetRange, quarantined, record_lost

log = logging.getLogger("archiver")

DRAIN_SECONDS = 10.0
MEND_SECONDS = 2.0
"""How often the archiver looks for holes to archive again (master files moved aside)."""

RECORDS = Counter(
    "lambda_archiver_records_total", "Records archived, by kind: event or rejected", ["kind"]
)
FILES = Counter("lambda_archiver_files_total", "Master files written")
BYTES = Counter("lambda_archiver_bytes_total", "Bytes of master files written")
for _kind in ("event", "rejected"):
    RECORDS.labels(_kind)  # present (at 0) from the start
FLUSH_SECONDS = Histogram(
    "lambda_archiver_flush_seconds",
    "Time to write the buffered records as master files (one per partition)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAG = Gauge(
    "lambda_archiver_lag", "Records on the topic not read yet, per partition", ["partition"]
)


def connect(settings: BatchSettings) -> TopicConsumer:
    """A broker's consumer of the topic, the production default."""
    return TopicConsumer.connect(settings, max_poll_records=50_000)


class Archiver:
    """Consumes every partition and appends offset-range files to the master dataset.

    Its main consumer is given to it (``consumer``, by default ``connect``), so tests run it
    over a log of their own; holes are read again with consumers of their own (``mend``)."""

    def __init__(
        self,
        settings: BatchSettings,
        lake: Lake,
        consumer: Callable[[BatchSettings], TopicConsumer] = connect,
    ) -> None:
        self.settings = settings
        self.lake = lake
        self.connect_main = consumer
        self.generation = lake.read_generation()
        self.buffers: dict[int, PartitionBuffer] = {}
        self.buffered = 0
        self.oldest_buffered = 0.0
        self.archived = 0
        self.written: dict[int, int] = {}
        # per partition, offsets retention deleted before they were read: lost to every layer
        self.lost: dict[int, int] = {}
        self.mend_check = Every(MEND_SECONDS)

    def connect(self) -> TopicConsumer:
        """A consumer of its own, for reading holes again."""
        return connect(self.settings)

    def mend(self) -> None:
        """Archive again the holes of the master dataset that the log still holds."""
        with BUSY.working():
            try:
                mend(self.lake, self.generation, self.connect)
            except BrokerError as exc:
                log.warning("holes of the master dataset not archived again yet: %s", exc)

    def resume_offsets(self) -> dict[int, int]:
        """Per partition, the offset after the last archived one (a file moved aside counts:
        ``mend`` archives its range again, so the main consumer never does)."""
        ends = self.lake.archived_ends(self.generation)
        for moved in quarantined(self.lake):
            if moved.range.generation == self.generation:
                partition = moved.range.partition
                ends[partition] = max(ends.get(partition, 0), moved.range.end)
        return ends

    def run(self, stop: threading.Event) -> None:
        """Archive until ``stop`` is set (or the broker fails), as the only archiver."""
        with exclusive(self.lake.master / ".archiver.lock", "archiver"):
            removed = remove_partial_files(self.lake, self.generation)
            if removed:
                log.info("removed %d partial files left by an earlier run", removed)
            consumer = self.connect_main(self.settings)
            try:
                self._consume(consumer, stop)
            finally:
                consumer.close()

    def _consume(self, consumer: TopicConsumer, stop: threading.Event) -> None:
        self.written = self.resume_offsets()
        starts = self._assign(consumer, consumer.partitions())
        log.info("archiving generation %d from offsets %s", self.generation, starts)
        self.mend()
        try:
            while not stop.is_set():
                self._poll(consumer, timeout_ms=200)
                if self.mend_check.due():
                    self.mend()
                new = consumer.new_partitions()
                if new:
                    log.info("partitions added to the topic: %s", self._assign(consumer, new))
                if self._flush_due():
                    self.flush()
        except BrokerError:
            self.flush()  # what was read is archived before the error stops the service
            raise
        self._drain(consumer)
        self.flush()
        log.info("stopped after archiving %d records", self.archived)

    def _drain(self, consumer: TopicConsumer) -> None:
        """Before stopping, read to the log end: ingest stops first, so this is everything."""
        deadline = time.monotonic() + DRAIN_SECONDS
        quiet_polls = 0
        while quiet_polls < 3 and time.monotonic() < deadline:
            read = self._poll(consumer, timeout_ms=100)
            at_end = consumer.at_end()
            quiet_polls = quiet_polls + 1 if not read and at_end else 0

    def _assign(self, consumer: TopicConsumer, partitions: list[int]) -> dict[int, int]:
        """Assign partitions from what the files hold (0 for a partition never archived)."""
        starts = {p: self.written.get(p, 0) for p in partitions}
        self.written.update(starts)
        consumer.assign(starts)
        return starts

    def _poll(self, consumer: TopicConsumer, timeout_ms: int) -> int:
        """Buffer what one poll returns; return how many records."""
        try:
            batches = consumer.poll(timeout_ms=timeout_ms)
        except OffsetsOutOfRange as exc:
            self._past_retention(consumer, exc)
            return 0
        with BUSY.working():
            for partition, records in batches.items():
                self._buffer(partition, records)
            for partition, behind in consumer.lag().items():
                LAG.labels(str(partition)).set(behind)
        return sum(len(records) for records in batches.values())

    def _past_retention(self, consumer: TopicConsumer, exc: OffsetsOutOfRange) -> None:
        """Retention deleted offsets before they were archived: an error, and a gap in the
        files (no file claims them), never a silent skip. Archiving goes on at the log start."""
        log_starts = consumer.log_starts_past(exc)
        self.flush()  # the files so far end where reading stopped
        for partition, position in exc.positions.items():
            log.error(
                "partition %d offsets %d-%d: deleted by retention before they were archived "
                "(the archiver is behind retention); they are lost",
                partition,
                position,
                log_starts[partition] - 1,
            )
            self.lost[partition] = self.lost.get(partition, 0) + log_starts[partition] - position
            gone = OffsetRange(self.generation, partition, position, log_starts[partition] - 1)
            record_lost(self.lake, [gone])
            self.written[partition] = log_starts[partition]
            consumer.seek(partition, log_starts[partition])

    def _buffer(self, partition: int, records: list[Any]) -> None:
        buffer = self.buffers.get(partition)
        if buffer is None:
            # The file starts at the position the previous file ended at, so a range of
            # offsets without records (transaction markers) still chains without a gap.
            first = self.written.get(partition, records[0].offset)
            buffer = self.buffers[partition] = PartitionBuffer(first)
        if not self.buffered:
            self.oldest_buffered = time.monotonic()
        for record in records:
            buffer.add(record.offset, record.value)
        self.buffered += len(records)

    def _flush_due(self) -> bool:
        if not self.buffered:
            return False
        if self.buffered >= self.settings.archive_max_records:
            return True
        return time.monotonic() - self.oldest_buffered >= self.settings.archive_flush_seconds

    def flush(self) -> None:
        """Write every buffered partition as one file each."""
        if not self.buffers:
            return
        started = time.perf_counter()
        with BUSY.working():
            self._write_buffers()
        FLUSH_SECONDS.observe(time.perf_counter() - started)

    def _write_buffers(self) -> None:
        for partition, buffer in sorted(self.buffers.items()):
            path = write_master_file(self.lake, self.generation, partition, buffer)
            FILES.inc()
            BYTES.inc(path.stat().st_size)
            RECORDS.labels("event").inc(len(buffer.rows) - buffer.rejected)
            RECORDS.labels("rejected").inc(buffer.rejected)
            if buffer.rejected:
                log.warning(
                    "partition %d offsets %d-%d: %d records are not events (kept as rejected)",
                    partition,
                    buffer.first,
                    buffer.last,
                    buffer.rejected,
                )
            self.written[partition] = buffer.end
            self.archived += len(buffer.rows)
        if self.buffered:
            log.debug("archived %d records", self.buffered)
        self.buffers.clear()
        self.buffered = 0


def serve() -> None:
    """Run the archiver until SIGTERM/SIGINT, then write what is buffered and exit."""
    settings = BatchSettings()
    log.info("starting with %s", settings.describe())
    lake = Lake(settings.data_dir)
    lake.ensure()
    Archiver(settings, lake).run(stop_event_on_signals())


def main() -> int:
    return run_service("archiver", serve)


if __name__ == "__main__":
    sys.exit(main())
