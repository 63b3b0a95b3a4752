"""Holes in the master dataset archived again from the log, and what the log lost recorded.

A hole is a range of offsets between master files (or before a partition's first) that no
file holds: a damaged file moved aside (``common.storage.quarantine``), or offsets retention deleted
before the archiver read them. While the log still holds a hole's offsets the archiver writes
them again, as one file named by the hole's range (so every offset is still in exactly one
file); what the log no longer holds (and every hole of an earlier topic generation, whose log
is gone) is recorded as lost, shown in ``/status`` and ``meta.batch.lost``, until ``make
accept-loss``.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from common.errors import BrokerError
from common.runtime.kafka import OffsetsOutOfRange, TopicConsumer
from common.storage.lake import Lake
from common.storage.master import PartitionBuffer, write_master_file
from common.storage.quarantine import (
    OffsetRange,
    accepted,
    holes,
    lost,
    quarantined,
    record_lost,
    uncovered,
)

log = logging.getLogger("archiver")

READ_SECONDS = 60.0
"""How long reading one hole again may take before it is left for the next check."""


def open_holes(lake: Lake) -> list[OffsetRange]:
    """Offsets no file holds and not yet known as lost (nor accepted as such): the holes
    between files, and the ranges of files moved aside (a partition's last file leaves no
    gap)."""
    files = lake.master_files()
    held = [OffsetRange.of(f) for f in files] + lost(lake) + accepted(lake)
    candidates = holes(files) + [q.range for q in quarantined(lake)]
    found = {part for c in candidates for part in uncovered(c, held)}
    return sorted(h for h in found if not any(_within(h, o) for o in found if o != h))


def mend(lake: Lake, generation: int, connect: Callable[[], TopicConsumer]) -> int:
    """Archive the open holes of ``generation`` again from the log; record as lost what it
    no longer holds (and the holes of earlier generations). Return the offsets written."""
    found = open_holes(lake)
    if not found:
        return 0
    losses = [h for h in found if h.generation != generation]
    mine = [h for h in found if h.generation == generation]
    written = 0
    if mine:
        consumer = connect()
        try:
            starts = consumer.beginning_offsets({h.partition for h in mine})
            for hole in mine:
                start = starts.get(hole.partition, 0)
                if start > hole.first:
                    losses.append(replace(hole, last=min(hole.last, start - 1)))
                if start <= hole.last:
                    written += _archive_again(
                        lake, consumer, replace(hole, first=max(start, hole.first))
                    )
        finally:
            consumer.close()
    for loss in record_lost(lake, losses):
        log.error(
            "generation %d partition %d offsets %d-%d: in neither the log nor the archive; "
            "they are lost (shown in /status and meta.batch.lost until `make accept-loss`)",
            loss.generation,
            loss.partition,
            loss.first,
            loss.last,
        )
    return written


def _archive_again(lake: Lake, consumer: TopicConsumer, hole: OffsetRange) -> int:
    """Read ``hole`` from the log and write it as one file; the offsets written (0 when the
    log could not give them in time: the next check tries again)."""
    partition = hole.partition
    consumer.assign({partition: hole.first})
    buffer = PartitionBuffer(hole.first)
    deadline = time.monotonic() + READ_SECONDS
    try:
        while consumer.positions()[partition] <= hole.last:
            if time.monotonic() > deadline:
                log.warning("offsets %s: not read again within %.0fs", hole, READ_SECONDS)
                return 0
            for record in consumer.poll(timeout_ms=200).get(partition, []):
                if hole.first <= record.offset <= hole.last:
                    buffer.add(record.offset, record.value)
    except (OffsetsOutOfRange, BrokerError) as exc:
        log.warning("offsets %s: cannot be read again now (%s)", hole, exc)
        return 0
    finally:
        consumer.unassign([partition])
    if not buffer.rows:
        return 0
    write_master_file(lake, hole.generation, partition, buffer, last=hole.last)
    log.info(
        "generation %d partition %d offsets %d-%d archived again from the log",
        hole.generation,
        partition,
        hole.first,
        hole.last,
    )
    return hole.last - hole.first + 1


def _within(inner: OffsetRange, outer: OffsetRange) -> bool:
    return (
        (inner.generation, inner.partition) == (outer.generation, outer.partition)
        and outer.first <= inner.first
        and inner.last <= outer.last
    )
