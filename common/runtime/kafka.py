"""A thin layer over kafka-python: clients configured one way, errors translated to BrokerError."""

import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, OffsetOutOfRangeError, TopicAlreadyExistsError

from common.errors import BrokerError
from common.runtime.settings import CommonSettings
from common.runtime.timers import Every

log = logging.getLogger(__name__)

PARTITION_REFRESH_SECONDS = 3.0
"""How often consumers re-read the topic's partition list (partitions added while running)."""


@contextmanager
def broker_errors(action: str) -> Iterator[None]:
    """Translate kafka-python's exceptions into BrokerError at the boundary."""
    try:
        yield
    except KafkaError as exc:
        raise BrokerError(f"{action}: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise BrokerError(f"{action}: {exc}") from exc


def bootstrap_reachable(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """Whether a TCP connection to one of the bootstrap servers succeeds."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


def make_producer(settings: CommonSettings, **overrides: Any) -> KafkaProducer:
    """An idempotent producer that waits for all in-sync replicas."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "api_version": settings.api_version,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "retries": 5,
        "max_in_flight_requests_per_connection": 5,
        "batch_size": 256 * 1024,
        "max_request_size": 8 * 1024 * 1024,
        "request_timeout_ms": 5_000,
        "delivery_timeout_ms": 8_000,
        "max_block_ms": 5_000,
        "reconnect_backoff_max_ms": 1_000,
    }
    config.update(overrides)
    with broker_errors(f"cannot connect a producer to {settings.kafka_bootstrap}"):
        return KafkaProducer(**config)


def make_consumer(settings: CommonSettings, **overrides: Any) -> KafkaConsumer:
    """A consumer without a group: callers assign partitions and keep their own offsets."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "api_version": settings.api_version,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": 100,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "request_timeout_ms": 10_000,
        "reconnect_backoff_max_ms": 1_000,
        # the partition list is metadata: refreshed this often, partitions added show up
        "metadata_max_age_ms": int(PARTITION_REFRESH_SECONDS * 1000),
    }
    config.update(overrides)
    with broker_errors(f"cannot connect a consumer to {settings.kafka_bootstrap}"):
        return KafkaConsumer(**config)


def ensure_topic(settings: CommonSettings, timeout_s: float = 30.0) -> bool:
    """Create the events topic if it does not exist; True when this call created it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with broker_errors("cannot create the topic"):
                admin = KafkaAdminClient(
                    bootstrap_servers=settings.kafka_bootstrap, api_version=settings.api_version
                )
            break
        except BrokerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        topic = NewTopic(settings.topic, num_partitions=settings.partitions, replication_factor=1)
        with broker_errors(f"cannot create topic {settings.topic}"):
            admin.create_topics([topic])
        log.info("created topic %s with %d partitions", settings.topic, settings.partitions)
        return True
    except BrokerError as exc:
        if isinstance(exc.__cause__, TopicAlreadyExistsError):
            return False
        raise
    finally:
        admin.close()


NO_TOPIC_ID = "00000000-0000-0000-0000-000000000000"


def topic_id(settings: CommonSettings) -> str | None:
    """The topic's id (KIP-516: a UUID the broker gives each topic it creates, so a topic
    deleted and created again has another), or None when the broker gives none (before
    Apache Kafka 2.8, Metadata v10) or cannot be asked.

    Asked with the protocol version detected from the broker, not the configured one: the
    bundled broker needs 2.5 for consumer groups, which predates topic ids."""
    try:
        with broker_errors("cannot ask for the topic id"):
            admin = KafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000
            )
            try:
                described = admin.describe_topics([settings.topic])
            finally:
                admin.close()
    except (BrokerError, ValueError) as exc:  # ValueError: kafka-python decoding an answer
        log.warning("no id for topic %s: %s", settings.topic, exc)
        return None
    for entry in described:
        found = entry.get("topic_id")
        if entry.get("name") == settings.topic and entry.get("error_code") == 0 and found:
            return None if str(found) == NO_TOPIC_ID else str(found)
    return None


def topic_partitions(
    consumer: KafkaConsumer, topic: str, timeout_s: float = 30.0
) -> list[TopicPartition]:
    """The topic's partitions, waiting for the broker to know the topic."""
    deadline = time.monotonic() + timeout_s
    while True:
        with broker_errors(f"cannot read metadata of {topic}"):
            partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        if time.monotonic() > deadline:
            raise BrokerError(f"topic {topic} does not exist (start the pipeline with make run)")
        time.sleep(0.1)


def unknown_partitions(consumer: Any, topic: str, known: Iterable[int]) -> list[int]:
    """Partitions of ``topic`` in the consumer's metadata (refreshed every
    ``metadata_max_age_ms``) that are not in ``known``: added while running."""
    with broker_errors(f"cannot read metadata of {topic}"):
        listed = consumer.partitions_for_topic(topic) or set()
    return sorted(set(listed) - set(known))


class EndOffsets:
    """True log-end offsets, read from fetch responses.

    Some Kafka-compatible brokers (the bundled Tansu among them) answer ListOffsets with the
    base offset of the newest record batch rather than the log end, so the end is taken from
    the high watermark of fetch responses instead. A private consumer fetches at most a few
    bytes per partition (it never reads the records), and a read waits for a response to a
    fetch sent during the call, so the ends it returns are never older than the call.
    """

    def __init__(self, settings: CommonSettings) -> None:
        # fetch_max_wait_ms=0 makes Tansu answer fetches with nothing at all; 1 ms works.
        self._consumer = make_consumer(
            settings,
            fetch_max_wait_ms=1,
            max_partition_fetch_bytes=1024,
            check_crcs=False,  # its records are never read
            # every response must carry every partition's high watermark, idle ones too
            enable_incremental_fetch_sessions=False,
        )
        self._lock = threading.Lock()
        self._topic = settings.topic
        self._partitions: list[TopicPartition] = []
        self._follow(topic_partitions(self._consumer, settings.topic))
        self._partition_check = Every(PARTITION_REFRESH_SECONDS)

    def _follow(self, added: list[TopicPartition]) -> None:
        """Add partitions, each from just before its listed end."""
        with broker_errors("cannot list offsets"):
            self._consumer.assign([*self._partitions, *added])
            listed = self._consumer.end_offsets(added)
            for tp in added:
                self._consumer.seek(tp, max(listed[tp] - 1, 0))
        self._partitions = [*self._partitions, *added]

    def _follow_new_partitions(self) -> None:
        """Partitions added to the topic while running are followed too."""
        if not self._partition_check.due():
            return
        new = unknown_partitions(
            self._consumer, self._topic, [tp.partition for tp in self._partitions]
        )
        if new:
            self._follow([TopicPartition(self._topic, p) for p in new])

    @property
    def partitions(self) -> list[int]:
        return [tp.partition for tp in self._partitions]

    def read(self, timeout_s: float = 5.0) -> dict[int, int]:
        """Per partition, the offset the next produced record will get."""
        deadline = time.monotonic() + timeout_s
        with self._lock, broker_errors("cannot read the end offsets"):
            self._follow_new_partitions()
            # A response to a fetch sent before this call may be on its way with an old high
            # watermark: the first round takes it, then every position moves to the end seen
            # (dropping the records in between unread). kafka-python keeps one fetch in flight
            # per partition, so the second round's responses answer fetches sent since.
            for _round in range(2):
                self._forget_highwater()
                while not self._all_answered():
                    if time.monotonic() > deadline:
                        raise BrokerError("timed out reading the end offsets")
                    self._consumer.poll(timeout_ms=2, max_records=1)
                ends = {tp: self._consumer.highwater(tp) for tp in self._partitions}
                for tp, end in ends.items():
                    if self._consumer.position(tp) != end:
                        self._consumer.seek(tp, end)
            return {tp.partition: end for tp, end in ends.items()}

    def _forget_highwater(self) -> None:
        # kafka-python keeps the last fetch response's high watermark; clearing it makes
        # _all_answered wait for a response that arrives during this call.
        for tp in self._partitions:
            self._consumer._subscription.assignment[tp].highwater = None

    def _all_answered(self) -> bool:
        return all(self._consumer.highwater(tp) is not None for tp in self._partitions)

    def close(self) -> None:
        with self._lock:
            self._consumer.close()


class OffsetsOutOfRange(BrokerError):
    """Positions the log does not hold (retention deleted them, or beyond its end), by
    partition. Raised instead of kafka-python's silent reset, so callers decide."""

    def __init__(self, positions: dict[int, int]) -> None:
        super().__init__(f"positions out of the log's range: {positions}")
        self.positions = positions


class TopicConsumer:
    """A group-less consumer of one topic, by partition number; kafka-python's errors leave it
    as BrokerError. It never resets a position on its own (``auto_offset_reset='none'``): a
    position the log no longer holds raises OffsetsOutOfRange from ``poll``."""

    def __init__(self, consumer: Any, topic: str) -> None:
        self._consumer = consumer
        self.topic = topic
        self._assigned: dict[int, TopicPartition] = {}
        self.partition_check = Every(PARTITION_REFRESH_SECONDS)

    @classmethod
    def connect(cls, settings: CommonSettings, **overrides: Any) -> "TopicConsumer":
        consumer = make_consumer(settings, **{"auto_offset_reset": "none", **overrides})
        return cls(consumer, settings.topic)

    @property
    def assigned(self) -> list[int]:
        return sorted(self._assigned)

    def partitions(self, timeout_s: float = 30.0) -> list[int]:
        """The topic's partitions, waiting for the broker to know the topic."""
        return [tp.partition for tp in topic_partitions(self._consumer, self.topic, timeout_s)]

    def new_partitions(self) -> list[int]:
        """Partitions of the topic not assigned yet, looked up every ``partition_check``."""
        if not self.partition_check.due():
            return []
        return unknown_partitions(self._consumer, self.topic, self._assigned)

    def assign(self, starts: Mapping[int, int]) -> None:
        """Add partitions to the assignment, each at its start offset; others keep theirs."""
        added = {p: TopicPartition(self.topic, p) for p in starts if p not in self._assigned}
        with broker_errors("cannot assign partitions"):
            self._consumer.assign([*self._assigned.values(), *added.values()])
        self._assigned.update(added)
        for partition, offset in starts.items():
            self.seek(partition, offset)

    def unassign(self, partitions: Iterable[int]) -> None:
        """Stop reading ``partitions``; the others keep their positions."""
        for partition in partitions:
            self._assigned.pop(partition, None)
        with broker_errors("cannot assign partitions"):
            self._consumer.assign(list(self._assigned.values()))

    def seek(self, partition: int, offset: int) -> None:
        with broker_errors(f"cannot seek partition {partition}"):
            self._consumer.seek(self._assigned[partition], offset)

    def poll(self, timeout_ms: int, max_records: int | None = None) -> dict[int, list[Any]]:
        """Records by partition; OffsetsOutOfRange for positions the log does not hold."""
        with broker_errors("cannot fetch records"):
            try:
                batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
            except OffsetOutOfRangeError as exc:
                raise OffsetsOutOfRange(_out_of_range(exc)) from exc
        return {tp.partition: records for tp, records in batches.items()}

    def positions(self) -> dict[int, int]:
        with broker_errors("cannot read positions"):
            return {p: self._consumer.position(tp) for p, tp in self._assigned.items()}

    def beginning_offsets(self, partitions: Iterable[int] | None = None) -> dict[int, int]:
        """The first offset each partition's log still holds (retention moves it)."""
        with broker_errors("cannot list the log start offsets"):
            found = self._consumer.beginning_offsets(self._tps(partitions))
        return {tp.partition: offset for tp, offset in found.items()}

    def log_starts_past(self, exc: OffsetsOutOfRange) -> dict[int, int]:
        """The log start of each partition ``exc`` names, when retention deleted its position;
        BrokerError when a position is beyond the log end instead (another topic)."""
        starts = self.beginning_offsets(exc.positions)
        beyond = {p: o for p, o in exc.positions.items() if o >= starts[p]}
        if beyond:
            raise BrokerError(f"positions {beyond} are beyond the log's end") from exc
        return starts

    def end_offsets(self, partitions: Iterable[int] | None = None) -> dict[int, int]:
        """ListOffsets' log end (see EndOffsets for brokers that answer it differently)."""
        with broker_errors("cannot list the log end offsets"):
            found = self._consumer.end_offsets(self._tps(partitions))
        return {tp.partition: offset for tp, offset in found.items()}

    def lag(self) -> dict[int, int]:
        """Per assigned partition, records between the position and the end the last fetch
        saw (partitions no fetch has answered yet are left out)."""
        found: dict[int, int] = {}
        with broker_errors("cannot read positions"):
            for partition, tp in self._assigned.items():
                highwater = self._consumer.highwater(tp)
                if highwater is not None:
                    found[partition] = max(0, highwater - self._consumer.position(tp))
        return found

    def at_end(self) -> bool:
        """Whether every assigned partition's position has reached the last fetch's end."""
        with broker_errors("cannot read positions"):
            for tp in self._assigned.values():
                highwater = self._consumer.highwater(tp)
                if highwater is None or self._consumer.position(tp) < highwater:
                    return False
        return True

    def close(self) -> None:
        with broker_errors("cannot close the consumer"):
            self._consumer.close()

    def _tps(self, partitions: Iterable[int] | None) -> list[TopicPartition]:
        chosen = self._assigned if partitions is None else partitions
        return [TopicPartition(self.topic, p) for p in chosen]


def _out_of_range(exc: OffsetOutOfRangeError) -> dict[int, int]:
    """The partitions and positions kafka-python's OffsetOutOfRangeError names."""
    named = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return {tp.partition: int(offset) for tp, offset in named.items()}
