"""The speed layer's consumer loop over an in-memory log: retention that deleted offsets no
batch covers, an archiver behind retention, and partitions added while it runs."""

import logging
import threading

import orjson
import pyarrow.parquet as pq

from common.events import Event
from common.kafka import TopicConsumer
from common.lake import BatchVersion, Lake, SpeedPointer, write_atomic
from common.master import PartitionBuffer, write_master_file
from common.views import parse_catalog
from serving_layer.sources import LagProbe, resolve
from speed_layer.service import SpeedLayer
from speed_layer.settings import SpeedSettings
from tests.memory_log import MemoryConsumer, MemoryLog

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


def publish_version(lake: Lake, version: BatchVersion) -> None:
    """A published batch version (its views are not read here)."""
    write_atomic(lake.versions / version.version / "version.json", orjson.dumps(version.to_json()))
    lake.publish_manifest(version)


def run_speed_layer(lake: Lake, log: MemoryLog, polls: int = 12, **consumer_args) -> SpeedLayer:
    """Run the loop until ``polls`` polls of the log have happened, then stop it."""
    stop = threading.Event()
    user_hook = consumer_args.pop("on_poll", None)

    def on_poll(number: int) -> None:
        if user_hook is not None:
            user_hook(number)
        if number >= polls:
            stop.set()

    layer = SpeedLayer(SpeedSettings(data_dir=lake.root), lake, CATALOG)
    layer.stop = stop
    consumer = TopicConsumer(
        MemoryConsumer(log, auto_offset_reset="none", on_poll=on_poll), "events"
    )
    consumer.partition_check.seconds = 0
    layer._run(consumer, stop)
    return layer


def served_orders(lake: Lake) -> tuple[int, float]:
    """Orders and revenue in the served speed snapshot."""
    pointer = lake.read_speed_pointer()
    assert pointer is not None
    table = pq.read_table(lake.snapshot_dir(pointer.snapshot) / "orders.parquet")
    return sum(table["orders__count"].to_pylist()), sum(table["revenue__sum"].to_pylist())


def test_a_restart_reads_what_retention_deleted_from_the_archive_exactly_once(lake):
    log = topic(p0=10)
    log.delete_before(0, 6)  # retention: the log holds offsets 6..9
    archive(lake, 0, 0, 3)
    archive(lake, 0, 4, 7)
    publish_version(lake, BatchVersion("000001", "t", 2, {1: {0: 1}}, ("orders",)))
    lake.publish_speed_pointer(SpeedPointer("000000000001", "000001", 1, {0: 4}, 2, "t"))

    layer = run_speed_layer(lake, log)

    assert layer.state.events == 8  # offsets 2..9: after the batch, each once
    assert served_orders(lake) == (8, float(sum(range(2, 10))))
    pointer = lake.read_speed_pointer()
    assert pointer.offsets == {0: 10}
    assert LagProbe.lag(resolve(lake), {0: 10}) == 0


def test_retention_while_running_reads_the_deleted_range_from_the_archive(lake):
    log = topic(p0=4)
    archive(lake, 0, 0, 7)

    def retention(number: int) -> None:
        if number == 1:  # the first poll reads 0..2; then 3..7 go and more arrive
            for offset in range(4, 10):
                log.append(0, purchase(0, offset).encode())
            log.delete_before(0, 8)

    layer = run_speed_layer(lake, log, on_poll=retention)

    assert layer.state.events == 10
    assert served_orders(lake) == (10, float(sum(range(10))))
    assert lake.read_speed_pointer().offsets == {0: 10}


def test_an_archiver_behind_retention_is_an_error_counted_in_the_lag(lake, caplog):
    log = topic(p0=10)
    log.delete_before(0, 8)
    archive(lake, 0, 0, 3)  # offsets 4 and 5: neither the log nor the archive has them
    archive(lake, 0, 6, 7)  # what the archiver read after the log start passed it

    with caplog.at_level(logging.ERROR, logger="speed"):
        layer = run_speed_layer(lake, log)

    assert layer.state.events == 8  # 0..3 and 6..7 from the archive, 8..9 from the log
    assert lake.read_speed_pointer().missing == {0: 2}
    assert any(r.levelno == logging.ERROR and "4-5" in r.getMessage() for r in caplog.records), (
        caplog.text
    )
    assert LagProbe.lag(resolve(lake), {0: 10}) == 2  # never 0: two events nobody has read


def test_a_partition_added_while_running_is_folded_in_from_offset_0(lake):
    log = topic(p0=3)

    def add_partition(number: int) -> None:
        if number == 3:
            log.append(1, purchase(1, 0).encode())
            log.append(1, purchase(1, 1).encode())

    layer = run_speed_layer(lake, log, on_poll=add_partition)

    assert layer.state.events == 5
    assert lake.read_speed_pointer().offsets == {0: 3, 1: 2}
    assert LagProbe.lag(resolve(lake), {0: 3, 1: 2}) == 0


def test_a_restart_catches_up_on_served_partitions_metadata_does_not_list(lake):
    log = topic(p0=3, p1=2)
    lake.publish_speed_pointer(SpeedPointer("000000000001", None, 1, {0: 3, 1: 2}, 5, "t"))

    layer = run_speed_layer(lake, log, stale_metadata=({1}, 1000))

    assert layer.state.events == 5
    assert lake.read_speed_pointer().offsets == {0: 3, 1: 2}
