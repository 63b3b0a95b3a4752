"""Beacons: a process's file says it is alive, how often it started, whether the last one
stopped cleanly, and its metrics; busy time counts overlapping work once."""

import os

from prometheus_client import CollectorRegistry, Counter

from common.monitoring.beacons import BeaconWriter, prune_beacons, read_beacons
from common.monitoring.prometheus import BusyClock


def test_a_beacon_carries_the_process_metrics_and_its_starts(lake):
    first = BeaconWriter(lake, "speed", instance="speed-2").start()
    try:
        (found,) = read_beacons(lake)
        assert (found.stage, found.instance, found.starts, found.restarted) == (
            "speed",
            "speed-2",
            1,
            False,
        )
        assert "lambda_busy_seconds_total" in found.samples
    finally:
        first.stop()
    assert read_beacons(lake)[0].stopped

    # A clean stop, then a start: not a restart after a death.
    second = BeaconWriter(lake, "speed", instance="speed-2").start()
    assert (read_beacons(lake)[0].starts, read_beacons(lake)[0].restarted) == (2, False)
    # ... the process dies without a word (no stop): the next start says so.
    second._stop.set()
    third = BeaconWriter(lake, "speed", instance="speed-2").start()
    try:
        (found,) = read_beacons(lake)
        assert (found.starts, found.restarted, found.stopped) == (3, True, False)
    finally:
        third.stop()


def test_unreadable_beacons_are_skipped(lake):
    writer = BeaconWriter(lake, "ingest", instance="ingest").start()
    writer.stop()
    (writer.path.parent / "archiver--x.json").write_text("{not json")
    assert [b.instance for b in read_beacons(lake)] == ["ingest"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _busy_clock() -> tuple[BusyClock, Counter, FakeClock]:
    counter = Counter("busy_seconds", "test", registry=CollectorRegistry())
    clock = FakeClock()
    return BusyClock(counter, clock), counter, clock


def test_overlapping_work_counts_once_and_a_flush_counts_work_under_way():
    busy, counter, clock = _busy_clock()
    busy.begin()  # request 1 at 100
    clock.now = 101
    busy.begin()  # request 2 at 101, while 1 runs
    clock.now = 102
    busy.end()  # 1 ends
    clock.now = 104
    busy.end()  # 2 ends: busy from 100 to 104
    assert counter._value.get() == 4
    clock.now = 110  # idle time does not count
    with busy.working():
        clock.now = 113
        busy.flush()  # a long run: its first 3 s count now
        assert counter._value.get() == 7
        clock.now = 114
    assert counter._value.get() == 8


def test_beacons_of_processes_long_gone_are_pruned(lake):
    BeaconWriter(lake, "speed", instance="old").start().stop()
    BeaconWriter(lake, "speed", instance="new").start().stop()
    old = next(p for p in (lake.root / "status" / "beacons").iterdir() if "old" in p.name)
    os.utime(old, (1, 1))
    assert prune_beacons(lake, 3600) == 1
    assert [b.instance for b in read_beacons(lake)] == ["new"]
