"""An in-memory topic and a consumer over it with kafka-python's interface (assign, seek, poll,
position, highwater): pure logic that reads a log is tested on it without a broker."""

from dataclasses import dataclass, field

from kafka import TopicPartition
from kafka.errors import KafkaConnectionError


@dataclass(frozen=True)
class Record:
    """What the code reads of a kafka-python ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class MemoryLog:
    """A topic: per partition, the values at offsets 0, 1, 2, ..."""

    topic: str
    partitions: dict[int, list[bytes | None]] = field(default_factory=dict)

    def append(self, partition: int, value: bytes | None) -> int:
        values = self.partitions.setdefault(partition, [])
        values.append(value)
        return len(values) - 1


class MemoryConsumer:
    """A consumer without a group over a MemoryLog; ``fail_at_poll`` makes that poll (1-based)
    raise a broker error, as a lost connection does."""

    def __init__(self, log: MemoryLog, batch: int = 3, fail_at_poll: int | None = None) -> None:
        self.log = log
        self.batch = batch
        self.fail_at_poll = fail_at_poll
        self.polls = 0
        self.positions: dict[TopicPartition, int] = {}

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(self.log.partitions) if topic == self.log.topic else None

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.positions = dict.fromkeys(partitions, 0)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.log.partitions[tp.partition])

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        self.polls += 1
        if self.polls == self.fail_at_poll:
            raise KafkaConnectionError("connection lost (injected)")
        batches = {}
        for tp, position in self.positions.items():
            values = self.log.partitions[tp.partition][position : position + self.batch]
            if values:
                batches[tp] = [
                    Record(tp.topic, tp.partition, position + i, v) for i, v in enumerate(values)
                ]
                self.positions[tp] = position + len(values)
        return batches

    def close(self) -> None:
        self.positions = {}
