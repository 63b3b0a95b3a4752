"""A speed-layer replica over an in-memory log.

Which partitions a replica owns and how it takes them over: partitions added while it
runs, restarts from snapshots, partitions shared between replicas, and snapshots that cannot
be read."""

from common.storage.speed_store import SliceStore, read_pointers
from serving_layer.pairing import resolve
from speed_layer import service
from speed_layer.membership import Membership
from tests.support.slices import publish_slice
from tests.support.speed_replica import (
    CATALOG,
    pointer,
    purchase,
    run_replica,
    served_orders,
    topic,
)


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
