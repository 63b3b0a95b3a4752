"""A speed-layer replica over an in-memory log.

What the log no longer holds read from the archive: retention that deleted offsets no
batch covers, before a restart or while running, an archiver behind retention, and a damaged
archive file."""

import logging

from common.storage.lake import BatchVersion
from common.storage.quarantine import quarantined
from serving_layer.pairing import resolve
from tests.support.batch_versions import publish_version
from tests.support.slices import publish_slice
from tests.support.speed_replica import (
    CATALOG,
    archive,
    pointer,
    purchase,
    run_replica,
    served_orders,
    topic,
)


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
