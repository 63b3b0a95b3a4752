"""The archiver over an in-memory log: what it read is archived even when the broker fails."""

import logging
import threading
from collections.abc import Callable

import pytest

from batch_layer.archiver import Archiver
from batch_layer.rearchive import mend
from batch_layer.settings import BatchSettings
from common.errors import BrokerError
from common.model.events import Event
from common.runtime.kafka import TopicConsumer
from common.storage.lake import Lake
from common.storage.master import (
    PartitionBuffer,
    events_of,
    read_events,
    rejected_records,
    write_master_file,
)
from common.storage.quarantine import OffsetRange, lost
from tests.support.memory_log import MemoryConsumer, MemoryLog


def given(consumer: TopicConsumer) -> Callable[[BatchSettings], TopicConsumer]:
    """The archiver's consumer: ``consumer``, over an in-memory log."""
    return lambda _settings: consumer


def archived_offsets(lake: Lake) -> list[int]:
    return sorted(o for f in lake.master_files() for o in range(f.first, f.last + 1))


def test_records_read_before_a_broker_error_are_archived(lake):
    log = MemoryLog("events")
    for i in range(6):
        log.append(0, Event(f"e{i}", "purchase", 1_000 + i, {"amount": i}).encode())
    settings = BatchSettings(data_dir=lake.root, archive_flush_seconds=60)
    consumer = MemoryConsumer(log, batch=3, fail_at_poll=3)  # two polls of 3, then an error
    archiver = Archiver(settings, lake, given(TopicConsumer(consumer, "events")))
    with pytest.raises(BrokerError, match="connection lost"):
        archiver.run(threading.Event())
    assert archived_offsets(lake) == list(range(6))
    assert lake.archived_ends(1) == {0: 6}  # a restart resumes after them


def test_foreign_records_are_archived_as_rejected_and_consumption_goes_on(lake):
    log = MemoryLog("events")
    log.append(0, Event("a", "purchase", 1, {}).encode())
    log.append(0, None)
    log.append(0, b"\x00not json")
    log.append(0, b'{"id": 5, "type": "purchase", "ts": 1, "props": {}}')
    log.append(0, Event("b", "purchase", 2, {}).encode())
    stop = threading.Event()
    settings = BatchSettings(data_dir=lake.root, archive_flush_seconds=60)
    consumer = MemoryConsumer(log, batch=10, fail_at_poll=2)
    archiver = Archiver(settings, lake, given(TopicConsumer(consumer, "events")))
    with pytest.raises(BrokerError):
        archiver.run(stop)
    [master_file] = lake.master_files()
    assert [e.id for e in read_events(master_file.path)] == ["a", "b"]
    assert [r.offset for r in rejected_records(master_file.path)] == [1, 2, 3]


def test_an_archiver_behind_retention_says_so_and_claims_no_offsets_it_did_not_read(lake, caplog):
    log = MemoryLog("events")
    for i in range(10):
        log.append(0, Event(f"e{i}", "purchase", 1_000 + i, {}).encode())
    settings = BatchSettings(data_dir=lake.root, archive_flush_seconds=60)
    write_first = MemoryConsumer(log, batch=4, fail_at_poll=2)  # archives 0..3, then fails
    with pytest.raises(BrokerError):
        Archiver(settings, lake, given(TopicConsumer(write_first, "events"))).run(threading.Event())
    log.delete_before(0, 6)  # retention deletes 4 and 5 before the archiver is back
    restarted = MemoryConsumer(log, batch=4, fail_at_poll=4, auto_offset_reset="none")
    with caplog.at_level(logging.ERROR, logger="archiver"), pytest.raises(BrokerError):
        Archiver(settings, lake, given(TopicConsumer(restarted, "events"))).run(threading.Event())
    assert [(f.first, f.last) for f in lake.master_files()] == [(0, 3), (6, 9)]
    assert any(r.levelno == logging.ERROR and "4-5" in r.getMessage() for r in caplog.records), (
        caplog.text
    )


def test_a_partition_added_while_running_is_archived_from_offset_0(lake):
    log = MemoryLog("events")
    for i in range(3):
        log.append(0, Event(f"a{i}", "purchase", 1, {}).encode())
    stop = threading.Event()

    def add_partition(number: int) -> None:
        if number == 2:
            log.append(1, Event("b0", "purchase", 1, {}).encode())
            log.append(1, Event("b1", "purchase", 1, {}).encode())
        if number == 6:
            stop.set()

    consumer = TopicConsumer(MemoryConsumer(log, on_poll=add_partition), "events")
    consumer.partition_check.seconds = 0
    settings = BatchSettings(data_dir=lake.root, archive_flush_seconds=60)
    Archiver(settings, lake, given(consumer)).run(stop)
    assert lake.archived_ends(1) == {0: 3, 1: 2}
    assert [(f.partition, f.first, f.last) for f in lake.master_files()] == [(0, 0, 2), (1, 0, 1)]


def _archive_two_files(lake: Lake, log: MemoryLog) -> None:
    for first in (0, 5):
        buffer = PartitionBuffer(first)
        for i in range(first, first + 5):
            value = Event(f"e{i}", "purchase", 1_000 + i, {}).encode()
            assert log.append(0, value) == i
            buffer.add(i, value)
        write_master_file(lake, 1, 0, buffer)


def _damage_second_file(lake: Lake) -> None:
    second = lake.master_files()[1]
    second.path.write_bytes(second.path.read_bytes()[:40])
    assert events_of(second) is None  # a reader met it: moved aside


def test_a_file_moved_aside_is_archived_again_from_the_log(lake):
    log = MemoryLog("events")
    _archive_two_files(lake, log)
    assert [(f.first, f.last) for f in lake.master_files()] == [(0, 4), (5, 9)]
    _damage_second_file(lake)
    assert [(f.first, f.last) for f in lake.master_files()] == [(0, 4)]
    written = mend(lake, 1, lambda: TopicConsumer(MemoryConsumer(log, batch=2), "events"))
    assert written == 5
    assert [(f.first, f.last) for f in lake.master_files()] == [(0, 4), (5, 9)]
    assert [e.id for f in lake.master_files() for e in read_events(f.path)] == [
        f"e{i}" for i in range(10)
    ]
    assert lost(lake) == []


def test_what_the_log_no_longer_holds_is_recorded_as_lost(lake):
    log = MemoryLog("events")
    _archive_two_files(lake, log)
    _damage_second_file(lake)
    log.delete_before(0, 8)  # retention: 5-7 are gone, 8-9 still there
    consumer = MemoryConsumer(log, batch=2, auto_offset_reset="none")
    assert mend(lake, 1, lambda: TopicConsumer(consumer, "events")) == 2
    assert [(f.first, f.last) for f in lake.master_files()] == [(0, 4), (8, 9)]
    assert lost(lake) == [OffsetRange(1, 0, 5, 7)]
    assert mend(lake, 1, lambda: TopicConsumer(consumer, "events")) == 0  # known: once


def test_holes_of_an_earlier_generation_are_lost_at_once(lake):
    log = MemoryLog("events")
    _archive_two_files(lake, log)
    _damage_second_file(lake)
    assert mend(lake, 2, lambda: pytest.fail("no log of generation 1 to read")) == 0
    assert lost(lake) == [OffsetRange(1, 0, 5, 9)]
