"""Beacons: a process's file says it is alive, how often it started, whether the last one
stopped cleanly, and its metrics; busy time counts overlapping work once."""

import os

import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter

from common.errors import DamagedFile
from common.monitoring.beacons import (
    BEACON_FORMAT,
    Beacon,
    BeaconWriter,
    prune_beacons,
    read_beacons,
)
from common.monitoring.prometheus import BusyClock
from common.storage.lake_files import read_json


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


def test_a_beacon_file_says_its_format_version_and_one_without_it_is_version_1(lake):
    writer = BeaconWriter(lake, "ingest", instance="ingest").start()
    writer.stop()
    assert orjson.loads(writer.path.read_bytes())["format_version"] == BEACON_FORMAT == 1
    old = {
        "stage": "speed",
        "instance": "old",
        "host": "h",
        "pid": 7,
        "started_at": 1.0,
        "updated_at": 2.0,
        "samples": {"lambda_busy_seconds_total": 3.0},
        "a_field_of_a_newer_writer": True,
    }
    (writer.path.parent / "speed--old.json").write_bytes(orjson.dumps(old))
    found = {b.instance: b for b in read_beacons(lake)}
    assert found["old"].format_version == 1
    assert (found["old"].pid, found["old"].starts, found["old"].samples) == (
        7,
        1,
        {"lambda_busy_seconds_total": 3.0},
    )


def test_beacon_json_of_the_wrong_shape_is_a_damaged_file(lake):
    directory = lake.root / "status" / "beacons"
    directory.mkdir(parents=True)
    for name, content in (("list", b"[1, 2]"), ("missing", b'{"stage": "speed"}'), ("empty", b"")):
        path = directory / f"speed--{name}.json"
        path.write_bytes(content)
        with pytest.raises(DamagedFile):
            read_json(path, Beacon.from_json)
    assert read_beacons(lake) == []
