"""The live path: the main consumer's records folded into the states of the owned slices,
and the snapshots that serve them."""

import logging
import threading
import time

from prometheus_client import Counter, Gauge, Histogram

from common.errors import EventError
from common.model.events import Event, decode_event
from common.monitoring.prometheus import BUSY
from common.runtime.kafka import TopicConsumer
from speed_layer.history import History, poll
from speed_layer.owned_slice import OwnedSlice
from speed_layer.slice_state import SliceState

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
FRESHNESS = Histogram(
    "lambda_speed_freshness_seconds",
    "From a record's timestamp (its receipt by ingest) to the snapshot that serves it",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
)


def fold(state: SliceState, records: list, again: bool = False) -> None:
    """Fold records in; ``again``: a switch re-reads them (not new input: not counted)."""
    if not records:
        return
    started = time.perf_counter()
    for record in records:
        state.apply_record(record.offset, decode(record))
    if not again:
        RECORDS.inc(len(records))
        BATCH_SECONDS.observe(time.perf_counter() - started)


def decode(record: object) -> Event | None:
    """The record's event; None (counted, logged) for a record that is not one."""
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


class LivePath:
    """Folds what the main consumer reads into the owned slices, and snapshots them."""

    def __init__(
        self, slices: dict[int, OwnedSlice], consumer: TopicConsumer, history: History
    ) -> None:
        self.slices = slices
        self.consumer = consumer
        self.history = history
        self._unserved: list[int] = []  # timestamps (ms) of records folded since the snapshot

    def poll(self, stop: threading.Event) -> None:
        """Read one poll's records and fold them in (waits a little when nothing is owned)."""
        if not self.consumer.assigned:
            stop.wait(0.1)
            return
        batches = poll(self.consumer, 50, self._restart)
        with BUSY.working():
            self._fold_polled(batches)

    def _restart(self, partition: int) -> None:
        owned = self.slices.get(partition)
        if owned is not None:
            self.history.assign(self.consumer, partition, owned.fed_by_main)

    def _fold_polled(self, batches: dict[int, list]) -> None:
        for partition, records in batches.items():
            owned = self.slices.get(partition)
            if owned is not None:
                fold(owned.fed_by_main, records)
                if owned.current is None:
                    owned.publish_pending_if_caught_up()
                else:  # served at the next snapshot
                    self._unserved += [t for r in records if (t := getattr(r, "timestamp", 0))]
        for partition, behind in self.consumer.lag().items():
            LAG.labels(str(partition)).set(behind)

    def publish_all(self) -> None:
        """Snapshot every slice whose served state moved."""
        for owned in self.slices.values():
            owned.publish_if_moved()
        now_ms = time.time() * 1000
        for timestamp in self._unserved:
            FRESHNESS.observe(max(0.0, (now_ms - timestamp) / 1000))
        self._unserved = []
