"""An in-memory topic and a consumer over it with kafka-python's interface (assign, seek, poll,
position, highwater, beginning and end offsets): pure logic that reads a log is tested on it
without a broker."""

from collections.abc import Callable
from dataclasses import dataclass, field

from kafka import TopicPartition
from kafka.errors import KafkaConnectionError, OffsetOutOfRangeError


@dataclass(frozen=True)
class Record:
    """What the code reads of a kafka-python ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class MemoryLog:
    """A topic: per partition, the values at offsets 0, 1, 2, ...; retention deletes a prefix
    (``starts``: the first offset each partition still holds)."""

    topic: str
    partitions: dict[int, list[bytes | None]] = field(default_factory=dict)
    starts: dict[int, int] = field(default_factory=dict)

    def append(self, partition: int, value: bytes | None) -> int:
        values = self.partitions.setdefault(partition, [])
        values.append(value)
        return len(values) - 1

    def delete_before(self, partition: int, offset: int) -> None:
        """What retention does: the log no longer holds the offsets before ``offset``."""
        self.starts[partition] = offset

    def start(self, partition: int) -> int:
        return self.starts.get(partition, 0)

    def end(self, partition: int) -> int:
        return len(self.partitions.get(partition, []))


class MemoryConsumer:
    """A consumer without a group over a MemoryLog.

    ``fail_at_poll`` makes that poll (1-based) raise a broker error, as a lost connection does;
    ``stale_metadata`` hides partitions from the first metadata reads, as right after
    partitions were added; ``on_poll`` is called with each poll's number before it reads (to
    change the log while a loop runs). A position the log does not hold (deleted, or beyond its
    end) is reset to the log start (``auto_offset_reset='earliest'``, kafka-python's silent
    skip) or raises OffsetOutOfRangeError (``'none'``)."""

    def __init__(
        self,
        log: MemoryLog,
        batch: int = 3,
        fail_at_poll: int | None = None,
        auto_offset_reset: str = "earliest",
        on_poll: Callable[[int], None] | None = None,
        stale_metadata: tuple[set[int], int] = (set(), 0),
    ) -> None:
        self.log = log
        self.batch = batch
        self.fail_at_poll = fail_at_poll
        self.auto_offset_reset = auto_offset_reset
        self.on_poll = on_poll
        self.polls = 0
        self.positions: dict[TopicPartition, int] = {}
        # (partitions, calls): the first ``calls`` metadata reads do not list those partitions
        self.stale_metadata = stale_metadata
        self.metadata_reads = 0

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        if topic != self.log.topic:
            return None
        self.metadata_reads += 1
        hidden, calls = self.stale_metadata
        return set(self.log.partitions) - (hidden if self.metadata_reads <= calls else set())

    def assign(self, partitions: list[TopicPartition]) -> None:
        """Replaces the assignment; partitions in both keep their positions (as kafka-python)."""
        self.positions = {tp: self.positions.get(tp, 0) for tp in partitions}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def highwater(self, tp: TopicPartition) -> int:
        return self.log.end(tp.partition)

    def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.log.start(tp.partition) for tp in partitions}

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.log.end(tp.partition) for tp in partitions}

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        self.polls += 1
        if self.on_poll is not None:
            self.on_poll(self.polls)
        if self.polls == self.fail_at_poll:
            raise KafkaConnectionError("connection lost (injected)")
        self._check_ranges()
        batches = {}
        for tp, position in self.positions.items():
            values = self.log.partitions.get(tp.partition, [])[position : position + self.batch]
            if values:
                batches[tp] = [
                    Record(tp.topic, tp.partition, position + i, v) for i, v in enumerate(values)
                ]
                self.positions[tp] = position + len(values)
        return batches

    def _check_ranges(self) -> None:
        for tp, position in self.positions.items():
            if self.log.start(tp.partition) <= position <= self.log.end(tp.partition):
                continue
            if self.auto_offset_reset == "none":
                raise OffsetOutOfRangeError({tp: position})
            self.positions[tp] = self.log.start(tp.partition)

    def close(self) -> None:
        self.positions = {}
