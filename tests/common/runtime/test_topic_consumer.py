"""The consumer wrapper over the in-memory log: partitions by number, errors as BrokerError,
no silent reset of a position the log no longer holds."""

from collections import defaultdict
from types import SimpleNamespace

import pytest

from common.errors import BrokerError
from common.runtime import kafka as common_kafka
from common.runtime.kafka import OffsetsOutOfRange, TopicConsumer
from common.runtime.settings import CommonSettings
from tests.support.memory_log import MemoryConsumer, MemoryLog


def topic_log(**lengths: int) -> MemoryLog:
    log = MemoryLog("events")
    for name, length in lengths.items():
        for i in range(length):
            log.append(int(name[1:]), f"{name}-{i}".encode())
    return log


def test_assigning_more_partitions_keeps_the_positions_of_the_others():
    consumer = TopicConsumer(MemoryConsumer(topic_log(p0=5, p1=2)), "events")
    consumer.assign({0: 1})
    consumer.poll(timeout_ms=0)
    consumer.assign({1: 0})
    assert consumer.positions() == {0: 4, 1: 0}
    assert consumer.assigned == [0, 1]


def test_a_position_retention_deleted_raises_naming_it():
    log = topic_log(p0=5)
    log.delete_before(0, 3)
    consumer = TopicConsumer(MemoryConsumer(log, auto_offset_reset="none"), "events")
    consumer.assign({0: 1})
    with pytest.raises(OffsetsOutOfRange) as raised:
        consumer.poll(timeout_ms=0)
    assert raised.value.positions == {0: 1}
    assert consumer.log_starts_past(raised.value) == {0: 3}
    assert consumer.beginning_offsets() == {0: 3}
    assert consumer.end_offsets() == {0: 5}


def test_kafka_errors_become_broker_errors():
    consumer = TopicConsumer(MemoryConsumer(topic_log(p0=1), fail_at_poll=1), "events")
    consumer.assign({0: 0})
    with pytest.raises(BrokerError, match="cannot fetch records: KafkaConnectionError"):
        consumer.poll(timeout_ms=0)


def test_partitions_added_to_the_topic_are_listed_as_new():
    log = topic_log(p0=1)
    consumer = TopicConsumer(MemoryConsumer(log), "events")
    consumer.partition_check.seconds = 0
    consumer.assign({0: 0})
    assert consumer.new_partitions() == []
    log.append(1, b"x")
    assert consumer.new_partitions() == [1]
    assert consumer.at_end() is False


def test_a_position_beyond_the_log_end_is_no_retention_gap():
    consumer = TopicConsumer(MemoryConsumer(topic_log(p0=2), auto_offset_reset="none"), "events")
    consumer.assign({0: 5})
    with pytest.raises(OffsetsOutOfRange) as raised:
        consumer.poll(timeout_ms=0)
    with pytest.raises(BrokerError, match="beyond the log's end"):
        consumer.log_starts_past(raised.value)


def test_the_end_offsets_the_lag_probe_reads_follow_partitions_added(monkeypatch):
    log = topic_log(p0=2)
    memory = MemoryConsumer(log)
    # what EndOffsets touches of kafka-python's subscription state: per partition, highwater
    memory._subscription = SimpleNamespace(assignment=defaultdict(SimpleNamespace))
    monkeypatch.setattr(common_kafka, "make_consumer", lambda settings, **config: memory)
    monkeypatch.setattr(common_kafka, "PARTITION_REFRESH_SECONDS", 0)
    ends = common_kafka.EndOffsets(CommonSettings())
    assert ends.read() == {0: 2}
    log.append(1, b"x")
    assert ends.read() == {0: 2, 1: 1}
