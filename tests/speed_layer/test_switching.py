"""A speed-layer replica over an in-memory log.

Switching a partition to a newer batch version: once the new state caught up, the old
one served and fed meanwhile, only the segment the version covers in part read again, and
never back to an older version."""

import logging

from common.storage.lake import BatchVersion
from common.storage.speed_store import read_pointers
from speed_layer import snapshots
from tests.support.batch_versions import publish_version
from tests.support.slices import publish_slice
from tests.support.speed_replica import (
    CATALOG,
    pointer,
    purchase,
    run_replica,
    served_orders,
    topic,
)


def test_a_new_batch_version_is_switched_to_once_the_new_state_caught_up(lake):
    log = topic(p0=10)
    run_replica(lake, log)
    assert (pointer(lake, 0).base_version, pointer(lake, 0).events) == (None, 10)

    publish_version(lake, BatchVersion("000001", "t", 6, {1: {0: 5}}, ("orders",)))
    run_replica(lake, log, polls=30)

    assert (pointer(lake, 0).base_version, pointer(lake, 0).next_offset) == ("000001", 10)
    assert served_orders(lake) == (4, float(sum(range(6, 10))))  # the batch holds 0..5


def test_while_a_partition_switches_its_old_state_keeps_being_served_and_fed(lake):
    log = topic(p0=10)
    run_replica(lake, log)
    publish_version(lake, BatchVersion("000001", "t", 2, {1: {0: 1}}, ("orders",)))
    seen: list[tuple[str | None, int]] = []

    def during(number: int) -> None:
        current = read_pointers(lake, 1)[0]
        seen.append((current.base_version, current.next_offset))
        if number == 2:
            for offset in range(10, 15):
                log.append(0, purchase(0, offset).encode())

    run_replica(lake, log, polls=40, catch_up_batch=1, on_poll=during)  # a slow rebuild

    assert (None, 15) in seen  # the old pair took the new events while the new one was built
    assert seen[-1] == ("000001", 15)
    assert served_orders(lake) == (13, float(sum(range(2, 15))))


def test_a_switch_reads_again_only_the_segment_the_new_version_covers_in_part(
    lake, monkeypatch, caplog
):
    monkeypatch.setattr(snapshots, "SEGMENT_EVENTS", 3)
    log = topic(p0=12)
    run_replica(lake, log, polls=20)
    assert len(pointer(lake, 0).segments) >= 3
    publish_version(lake, BatchVersion("000001", "t", 5, {1: {0: 4}}, ("orders",)))

    with caplog.at_level(logging.INFO, logger="speed"):
        run_replica(lake, log, polls=30)

    switched = pointer(lake, 0)
    assert (switched.base_version, switched.next_offset) == ("000001", 12)
    assert switched.segments[0].first == 5  # 0..4 are the batch's now
    assert served_orders(lake) == (7, float(sum(range(5, 12))))
    (line,) = [r.getMessage() for r in caplog.records if "switched" in r.getMessage()]
    read_again = int(line.split(" of them read again")[0].rsplit(" ", 1)[1])
    assert read_again < 3, line  # one segment's part, not the 7 events since the version


def test_a_partition_never_switches_back_to_an_older_batch_version(lake):
    log = topic(p0=10)
    publish_version(lake, BatchVersion("000001", "t", 2, {1: {0: 1}}, ("orders",)))
    newer = BatchVersion("000002", "t", 6, {1: {0: 5}}, ("orders",))
    publish_version(lake, newer, newest=False)  # the manifest a replica reads still names 000001
    publish_slice(lake, CATALOG, 0, "000002", 10, [purchase(0, o) for o in range(6, 10)])

    run_replica(lake, log)

    assert (pointer(lake, 0).base_version, pointer(lake, 0).events) == ("000002", 4)
