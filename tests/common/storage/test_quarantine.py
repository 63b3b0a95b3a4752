"""Damaged master files moved aside, holes and losses, and accepted losses bridged."""

import pytest

from common.model.events import Event
from common.storage.lake import Lake
from common.storage.master import PartitionBuffer, events_of, write_master_file
from common.storage.quarantine import (
    OffsetRange,
    accept_losses,
    accepted,
    coverage,
    holes,
    losses_status,
    lost,
    quarantined,
    record_lost,
)
from serving_layer.rejected import RejectedIndex


def _write(lake: Lake, first: int, last: int, partition: int = 0) -> None:
    buffer = PartitionBuffer(first=first)
    for offset in range(first, last + 1):
        buffer.add(offset, Event(f"e{partition}-{offset}", "t", offset, {}).encode())
    write_master_file(lake, 1, partition, buffer)


def _truncate(lake: Lake, first: int, last: int) -> None:
    path = lake.master_path(1, 0, first, last)
    path.write_bytes(path.read_bytes()[:50])


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(tmp_path)
    for first in (0, 10, 20):
        _write(lake, first, first + 9)
    return lake


def test_a_damaged_file_read_is_moved_aside_and_leaves_a_hole(lake):
    _truncate(lake, 10, 19)
    assert events_of(lake.master_files()[1]) is None
    assert [(f.first, f.last) for f in lake.master_files()] == [(0, 9), (20, 29)]
    [moved] = quarantined(lake)
    assert moved.range == OffsetRange(1, 0, 10, 19)
    assert moved.path == str(lake.master_path(1, 0, 10, 19))
    assert moved.reason
    assert (lake.root / "quarantine" / "master" / "g=000001" / "p=0").is_dir()
    assert holes(lake.master_files()) == [OffsetRange(1, 0, 10, 19)]
    files, offsets = coverage(lake, lake.master_files())
    assert offsets == {1: {0: 9}}
    assert len(files) == 1


def test_health_reading_rejected_records_quarantines_instead_of_failing(lake):
    _truncate(lake, 0, 9)
    summary = RejectedIndex().summary(lake.master_files())
    assert summary["count"] == 0
    assert [q.range.first for q in quarantined(lake)] == [0]
    # the first file is gone: the chain starts at no file until it is archived again
    assert coverage(lake, lake.master_files()) == ([], {})


def test_a_file_archived_again_ends_the_stop(lake):
    _truncate(lake, 10, 19)
    events_of(lake.master_files()[1])
    _write(lake, 10, 19)  # the archiver, from the log
    assert holes(lake.master_files()) == []
    _, offsets = coverage(lake, lake.master_files())
    assert offsets == {1: {0: 29}}
    assert losses_status(lake)["quarantined"][0]["first"] == 10


def test_a_loss_stops_the_chain_until_accepted(lake):
    _truncate(lake, 10, 19)
    events_of(lake.master_files()[1])
    assert record_lost(lake, [OffsetRange(1, 0, 10, 19)]) == [OffsetRange(1, 0, 10, 19)]
    assert record_lost(lake, [OffsetRange(1, 0, 10, 19)]) == []
    assert lost(lake) == [OffsetRange(1, 0, 10, 19)]
    assert coverage(lake, lake.master_files())[1] == {1: {0: 9}}
    assert losses_status(lake)["lost"] == [
        {"generation": 1, "partition": 0, "first": 10, "last": 19, "accepted": False}
    ]
    assert accept_losses(lake) == [OffsetRange(1, 0, 10, 19)]
    assert accept_losses(lake) == []
    assert accepted(lake) == [OffsetRange(1, 0, 10, 19)]
    assert coverage(lake, lake.master_files())[1] == {1: {0: 29}}
    assert losses_status(lake)["lost"][0]["accepted"] is True


def test_damaged_loss_files_read_as_none(lake):
    (lake.root / "quarantine").mkdir()
    (lake.root / "quarantine" / "lost.json").write_bytes(b"[{")
    assert lost(lake) == []


def test_holes_include_the_start_of_a_partition(tmp_path):
    lake = Lake(tmp_path)
    _write(lake, 5, 9, partition=1)
    assert holes(lake.master_files()) == [OffsetRange(1, 1, 0, 4)]


def test_a_file_archived_again_in_part_with_the_rest_accepted_as_lost_blocks_nothing(lake):
    """A quarantined 10-19 whose 15-19 the log still held (archived again) and whose 10-14 it
    did not (lost): the chain stops at the loss until it is accepted, then goes on to the end."""
    _truncate(lake, 10, 19)
    assert events_of(lake.master_files()[1]) is None
    _write(lake, 15, 19)
    record_lost(lake, [OffsetRange(1, 0, 10, 14)])
    assert coverage(lake, lake.master_files())[1] == {1: {0: 9}}
    accept_losses(lake)
    files, offsets = coverage(lake, lake.master_files())
    assert offsets == {1: {0: 29}}
    assert [(f.first, f.last) for f in files] == [(0, 9), (15, 19), (20, 29)]


def test_an_accepted_loss_at_a_partitions_tail_is_covered(lake):
    record_lost(lake, [OffsetRange(1, 0, 30, 39)])
    assert coverage(lake, lake.master_files())[1] == {1: {0: 29}}
    accept_losses(lake)
    files, offsets = coverage(lake, lake.master_files())
    assert offsets == {1: {0: 39}}  # a version after it must not look like one covering less
    assert len(files) == 3
