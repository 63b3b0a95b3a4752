"""A speed-layer replica over an in-memory log: retention that deleted offsets no batch
covers, an archiver behind retention, partitions added while it runs, restarts from
snapshots, switches to a new batch version, and partitions shared between replicas."""

import logging
import threading

import pyarrow.parquet as pq

from common.model.events import Event
from common.model.views import parse_catalog
from common.runtime.kafka import TopicConsumer
from common.storage.lake import BatchVersion, Lake
from common.storage.master import PartitionBuffer, write_master_file
from common.storage.quarantine import quarantined
from common.storage.speed_store import SlicePointer, SliceStore, read_pointers
from serving_layer.pairing import resolve
from speed_layer import service, snapshots
from speed_layer.membership import Membership
from speed_layer.service import SpeedReplica
from speed_layer.settings import SpeedSettings
from tests.batch_versions import publish_version
from tests.memory_log import MemoryConsumer, MemoryLog
from tests.slices import publish_slice

CATALOG = parse_catalog(
    {
        "views": [
            {
                "name": "orders",
                "event_type": "purchase",
                "granularity": "day",
                "metrics": {"orders": "count", "revenue": {"sum": "amount"}},
            }
        ]
    }
)


def purchase(partition: int, offset: int) -> Event:
    return Event(f"p{partition}-{offset}", "purchase", 0, {"amount": offset})


def topic(**lengths: int) -> MemoryLog:
    """A log whose partition ``pN`` holds that many purchases."""
    log = MemoryLog("events")
    for name, length in lengths.items():
        for offset in range(length):
            log.append(int(name[1:]), purchase(int(name[1:]), offset).encode())
    return log


def archive(lake: Lake, partition: int, first: int, last: int) -> None:
    buffer = PartitionBuffer(first=first)
    for offset in range(first, last + 1):
        buffer.add(offset, purchase(partition, offset).encode())
    write_master_file(lake, 1, partition, buffer)


def run_replica(
    lake: Lake,
    log: MemoryLog,
    polls: int = 12,
    replica_id: str = "r1",
    catch_up_batch: int = 3,
    **consumer_args,
) -> SpeedReplica:
    """Run a replica until the log has been polled ``polls`` times, then stop it; it
    snapshots at every loop turn, and its catch-up consumer reads ``catch_up_batch`` records
    a poll."""
    stop = threading.Event()
    user_hook = consumer_args.pop("on_poll", None)
    count = [0]

    def on_poll(_number: int) -> None:
        count[0] += 1
        if user_hook is not None:
            user_hook(count[0])
        if count[0] >= polls:
            stop.set()

    replica = SpeedReplica(
        SpeedSettings(data_dir=lake.root, speed_snapshot_seconds=1e-9), lake, CATALOG, replica_id
    )
    replica.stop = stop
    replica.rebalance_seconds = 0
    consumers = [
        TopicConsumer(
            MemoryConsumer(
                log, batch=batch, auto_offset_reset="none", on_poll=on_poll, **consumer_args
            ),
            "events",
        )
        for batch in (3, catch_up_batch)
    ]
    replica.membership.join()
    try:
        replica._run(*consumers, stop)
    finally:
        replica.membership.leave()
    return replica


def served_orders(lake: Lake) -> tuple[int, float]:
    """Orders and revenue in the served speed snapshots."""
    slices = resolve(lake).speed_slices("orders")
    tables = [pq.read_table(path) for files in slices for path in files]
    return (
        sum(sum(t["orders__count"].to_pylist()) for t in tables),
        sum(sum(t["revenue__sum"].to_pylist()) for t in tables),
    )


def pointer(lake: Lake, partition: int) -> SlicePointer:
    found = read_pointers(lake, 1)[partition]
    return found


def test_a_restart_reads_what_retention_deleted_from_the_archive_exactly_once(lake):
    log = topic(p0=10)
    log.delete_before(0, 6)  # retention: the log holds offsets 6..9
    archive(lake, 0, 0, 3)
    archive(lake, 0, 4, 7)
    publish_version(lake, BatchVersion("000001", "t", 2, {1: {0: 1}}, ("orders",)))
    publish_slice(lake, CATALOG, 0, "000001", 4, [purchase(0, 2), purchase(0, 3)])

    run_replica(lake, log)

    assert pointer(lake, 0).events == 8  # offsets 2..9: after the batch, each once
    assert served_orders(lake) == (8, float(sum(range(2, 10))))
    assert pointer(lake, 0).next_offset == 10
    assert resolve(lake).lag({0: 10}) == 0


def test_retention_while_running_reads_the_deleted_range_from_the_archive(lake):
    log = topic(p0=4)
    archive(lake, 0, 0, 7)

    def retention(number: int) -> None:
        if number == 1:  # the first poll reads 0..2; then 3..7 go and more arrive
            for offset in range(4, 10):
                log.append(0, purchase(0, offset).encode())
            log.delete_before(0, 8)

    run_replica(lake, log, on_poll=retention)

    assert served_orders(lake) == (10, float(sum(range(10))))
    assert pointer(lake, 0).next_offset == 10


def test_an_archiver_behind_retention_is_an_error_counted_in_the_lag(lake, caplog):
    log = topic(p0=10)
    log.delete_before(0, 8)
    archive(lake, 0, 0, 3)  # offsets 4 and 5: neither the log nor the archive has them
    archive(lake, 0, 6, 7)  # what the archiver read after the log start passed it

    with caplog.at_level(logging.ERROR, logger="speed"):
        run_replica(lake, log)

    assert pointer(lake, 0).events == 8  # 0..3 and 6..7 from the archive, 8..9 from the log
    assert pointer(lake, 0).missing == 2
    assert any(r.levelno == logging.ERROR and "4-5" in r.getMessage() for r in caplog.records), (
        caplog.text
    )
    assert resolve(lake).lag({0: 10}) == 2  # never 0: two events nobody has read


def test_a_partition_added_while_running_is_folded_in_from_offset_0(lake):
    log = topic(p0=3)

    def add_partition(number: int) -> None:
        if number == 3:
            log.append(1, purchase(1, 0).encode())
            log.append(1, purchase(1, 1).encode())

    run_replica(lake, log, polls=40, on_poll=add_partition)

    assert {p: s.next_offset for p, s in read_pointers(lake, 1).items()} == {0: 3, 1: 2}
    assert served_orders(lake)[0] == 5
    assert resolve(lake).lag({0: 3, 1: 2}) == 0


def test_a_restart_continues_from_the_snapshot_and_its_ids(lake):
    log = topic(p0=6)
    log.delete_before(0, 4)  # not in the archive either: only the snapshot can hold 0..3
    log.append(0, purchase(0, 1).encode())  # offset 6: a retry of an event already counted
    publish_slice(lake, CATALOG, 0, None, 4, [purchase(0, o) for o in range(4)])

    run_replica(lake, log)

    assert pointer(lake, 0).events == 6
    assert pointer(lake, 0).missing == 0
    assert served_orders(lake) == (6, float(sum(range(6))))


def test_a_new_batch_version_is_switched_to_once_the_new_state_caught_up(lake):
    log = topic(p0=10)
    run_replica(lake, log)
    assert (pointer(lake, 0).base_version, pointer(lake, 0).events) == (None, 10)

    publish_version(lake, BatchVersion("000001", "t", 6, {1: {0: 5}}, ("orders",)))
    run_replica(lake, log, polls=30)

    assert (pointer(lake, 0).base_version, pointer(lake, 0).next_offset) == ("000001", 10)
    assert served_orders(lake) == (4, float(sum(range(6, 10))))  # the batch holds 0..5


def test_replicas_share_the_partitions_and_a_leaving_one_hands_its_over(lake):
    log = topic(p0=3, p1=4)
    other = Membership(lake, "r0")  # a live replica that joined first
    other.join()
    try:
        run_replica(lake, log, replica_id="r1")
        assert set(read_pointers(lake, 1)) == {1}  # r0 owns partition 0
    finally:
        other.leave()
    run_replica(lake, log, replica_id="r2")
    assert {p: s.next_offset for p, s in read_pointers(lake, 1).items()} == {0: 3, 1: 4}
    assert served_orders(lake)[0] == 7


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


def test_a_snapshot_that_cannot_be_read_is_built_anew_from_the_batch_version(lake):
    log = topic(p0=6)
    written = publish_slice(lake, CATALOG, 0, None, 6, [purchase(0, o) for o in range(6)])
    (name,) = [n for n in written.names() if ".ids." in n]
    SliceStore(lake, 1, 0).path(name).write_bytes(b"torn by a crash of the machine")

    run_replica(lake, log)

    assert pointer(lake, 0).events == 6
    assert served_orders(lake) == (6, float(sum(range(6))))


def test_a_snapshot_file_damaged_while_running_is_built_anew(lake, monkeypatch):
    monkeypatch.setattr(service, "DAMAGE_CHECK_SECONDS", 0)
    log = topic(p0=6)
    damaged: list[str] = []

    def damage(number: int) -> None:
        if number == 8:
            current = pointer(lake, 0)
            name = sorted(n for n in current.names() if ".orders." in n)[0]
            SliceStore(lake, 1, 0).path(name).write_bytes(b"")
            damaged.append(name)

    run_replica(lake, log, polls=30, on_poll=damage)

    assert damaged
    current = pointer(lake, 0)
    assert SliceStore(lake, 1, 0).damaged(current) is None
    assert current.events == 6
    assert served_orders(lake) == (6, float(sum(range(6))))


def test_an_emptied_pointer_is_built_anew(lake):
    log = topic(p0=6)
    publish_slice(lake, CATALOG, 0, None, 6, [purchase(0, o) for o in range(6)])
    SliceStore(lake, 1, 0).pointer_path.write_bytes(b"")

    run_replica(lake, log)

    assert pointer(lake, 0).events == 6
    assert served_orders(lake) == (6, float(sum(range(6))))


def test_a_damaged_archive_file_is_quarantined_and_counted_missing(lake):
    log = topic(p0=10)
    log.delete_before(0, 8)  # the log holds 8..9: 0..7 only the archive has
    archive(lake, 0, 0, 3)
    archive(lake, 0, 4, 7)
    path = lake.master_path(1, 0, 0, 3)
    path.write_bytes(path.read_bytes()[:30])

    run_replica(lake, log)

    assert [q.range.first for q in quarantined(lake)] == [0]
    assert pointer(lake, 0).events == 6  # offsets 4..9
    assert pointer(lake, 0).missing == 4
    assert resolve(lake).lag({0: 10}) == 4  # never understated
