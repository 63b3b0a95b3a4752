"""The archiver over an in-memory log: what it read is archived even when the broker fails."""

import threading

import pytest

from batch_layer.archiver import Archiver
from batch_layer.settings import BatchSettings
from common.errors import BrokerError
from common.events import Event
from common.kafka import TopicConsumer
from common.lake import Lake
from common.master import read_events, rejected_records
from tests.memory_log import MemoryConsumer, MemoryLog


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    return lake


def archived_offsets(lake: Lake) -> list[int]:
    return sorted(o for f in lake.master_files() for o in range(f.first, f.last + 1))


def test_records_read_before_a_broker_error_are_archived(lake):
    log = MemoryLog("events")
    for i in range(6):
        log.append(0, Event(f"e{i}", "purchase", 1_000 + i, {"amount": i}).encode())
    settings = BatchSettings(data_dir=lake.root, archive_flush_seconds=60)
    archiver = Archiver(settings, lake)
    consumer = MemoryConsumer(log, batch=3, fail_at_poll=3)  # two polls of 3, then an error
    with pytest.raises(BrokerError, match="connection lost"):
        archiver._consume(TopicConsumer(consumer, "events"), threading.Event())
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
    archiver = Archiver(settings, lake)
    consumer = MemoryConsumer(log, batch=10, fail_at_poll=2)
    with pytest.raises(BrokerError):
        archiver._consume(TopicConsumer(consumer, "events"), stop)
    [master_file] = lake.master_files()
    assert [e.id for e in read_events(master_file.path)] == ["a", "b"]
    assert [r.offset for r in rejected_records(master_file.path)] == [1, 2, 3]
