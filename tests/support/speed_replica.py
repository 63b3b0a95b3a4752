"""A speed-layer replica run over an in-memory log, for the speed layer's tests: its two
consumers are real ``TopicConsumer``s over a ``MemoryLog``, given to the replica."""

import threading

import pyarrow.parquet as pq

from common.model.events import Event
from common.model.views import parse_catalog
from common.runtime.kafka import TopicConsumer
from common.storage.lake import Lake
from common.storage.master import PartitionBuffer, write_master_file
from common.storage.speed_store import SlicePointer, read_pointers
from serving_layer.pairing import resolve
from speed_layer.service import Consumers, SpeedReplica
from speed_layer.settings import SpeedSettings
from tests.support.memory_log import MemoryConsumer, MemoryLog

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

    def consumer(batch: int) -> TopicConsumer:
        memory = MemoryConsumer(
            log, batch=batch, auto_offset_reset="none", on_poll=on_poll, **consumer_args
        )
        return TopicConsumer(memory, "events")

    replica = SpeedReplica(
        SpeedSettings(data_dir=lake.root, speed_snapshot_seconds=1e-9),
        lake,
        CATALOG,
        replica_id,
        consumers=lambda _settings: Consumers(consumer(3), consumer(catch_up_batch)),
        rebalance_seconds=0,
    )
    replica.run(stop)
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
