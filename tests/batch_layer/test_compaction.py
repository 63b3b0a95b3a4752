"""Compaction keeps the master dataset's invariant: every (generation, partition, offset) is in
exactly one live file whatever moment a reader lists the files, with a kill -9 at any moment
too, and afterwards a batch reads a bounded number of files."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import duckdb
import pytest

from batch_layer.compaction import compact, runs_to_merge
from common.model.events import Event
from common.storage.lake import Lake, MasterFile, live_files
from common.storage.master import PartitionBuffer, write_master_file
from runner.launcher import ROOT

PARTITIONS = 4
FILES_PER_PARTITION = 500
RECORDS_PER_FILE = 4
SMALL, TARGET = 40, 400


def archive_small_files(lake: Lake) -> int:
    """What the archiver leaves after a while: many small files per partition (one with a
    gap, as retention loss leaves), a few records each; the number of records."""
    total = 0
    for partition in range(PARTITIONS):
        offset = 0
        for index in range(FILES_PER_PARTITION):
            if partition == 3 and index == 250:
                offset += 7  # deleted by retention before it was archived: no file claims it
            buffer = PartitionBuffer(offset)
            for _ in range(RECORDS_PER_FILE):
                event = Event(f"p{partition}-o{offset}", "tap", 1_700_000_000_000 + offset, {})
                buffer.add(offset, event.encode())
                offset += 1
            write_master_file(lake, 1, partition, buffer)
            total += RECORDS_PER_FILE
    return total


def check_exact_cover(lake: Lake) -> list[MasterFile]:
    """The live files cover each partition's offsets once: no overlap, no hole but the one
    retention made. Returns them."""
    files = lake.master_files(1)
    for partition in range(PARTITIONS):
        mine = [f for f in files if f.partition == partition]
        assert mine[0].first == 0
        for before, after in pairwise(mine):
            hole = 7 if partition == 3 and after.first == before.end + 7 else 0
            assert after.first == before.end + hole, (before, after)
        assert mine[-1].end == FILES_PER_PARTITION * RECORDS_PER_FILE + (7 if partition == 3 else 0)
    return files


def read_everything(files: list[MasterFile]) -> tuple[int, int]:
    """A batch-like read of the listed files: rows, and distinct (partition, offset)."""
    paths = [str(f.path) for f in files]
    with duckdb.connect() as connection:  # one per reader thread
        ((rows, distinct),) = connection.execute(
            'SELECT count(*), count(DISTINCT (partition, "offset")) FROM read_parquet(?)',
            [paths],
        ).fetchall()
    return rows, distinct


def f(partition: int, first: int, last: int, generation: int = 1) -> MasterFile:
    return MasterFile(generation, partition, first, last, Path(f"{first}-{last}"))


def test_runs_are_unbroken_small_and_of_one_partition():
    files = [
        f(0, 0, 9),
        f(0, 10, 19),
        f(0, 20, 29),
        f(0, 35, 39),  # a gap before it
        f(0, 40, 49),
        f(0, 50, 549),  # big: stays as it is
        f(0, 550, 559),  # alone after it: nothing to merge with
        f(1, 0, 9),
        f(1, 10, 19),
    ]
    runs = runs_to_merge(files, small=100, target=25)
    spans = [[(r.first, r.last) for r in run] for run in runs]
    # the first run is cut at 25 offsets: 0-19 (20-29 would make 30)
    assert spans == [[(0, 9), (10, 19)], [(35, 39), (40, 49)], [(0, 9), (10, 19)]]
    assert [r[0].partition for r in runs] == [0, 0, 1]


def test_a_file_holding_others_stands_for_them():
    listed = [f(0, 0, 9), f(0, 10, 19), f(0, 0, 19), f(0, 20, 29), f(1, 0, 9)]
    assert [(x.partition, x.first, x.last) for x in live_files(listed)] == [
        (0, 0, 19),
        (0, 20, 29),
        (1, 0, 9),
    ]


def test_readers_always_see_each_offset_once_while_thousands_of_files_are_compacted(lake):
    total = archive_small_files(lake)
    assert len(lake.master_files()) == PARTITIONS * FILES_PER_PARTITION
    stop = threading.Event()
    seen: list[int] = []
    failures: list[BaseException] = []

    def batch_reader() -> None:
        while not stop.is_set():
            try:
                files = check_exact_cover(lake)
                assert read_everything(files) == (total, total)
                seen.append(len(files))
            except BaseException as exc:  # reported by the test below
                failures.append(exc)
                return

    readers = [threading.Thread(target=batch_reader) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        first = compact(lake, SMALL, TARGET)
        again = compact(lake, SMALL, TARGET)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not failures, failures[0]
    assert len(seen) > 2 and max(seen) == PARTITIONS * FILES_PER_PARTITION
    assert first.merged == PARTITIONS * FILES_PER_PARTITION and first.deleted == 0
    assert again.merged == 0  # what it wrote is not small any more
    # the bound: one file per TARGET offsets of each unbroken run, per partition
    live = check_exact_cover(lake)
    assert len(live) <= PARTITIONS * (FILES_PER_PARTITION * RECORDS_PER_FILE // TARGET + 1)
    assert read_everything(live) == (total, total)

    # superseded files stay for the grace period (a reader may have listed them), then go
    assert len(lake.all_master_files()) > len(live)
    assert compact(lake, SMALL, TARGET, grace_s=0).deleted == PARTITIONS * FILES_PER_PARTITION
    assert lake.all_master_files() == live


COMPACTOR = """
import sys
from pathlib import Path
from batch_layer.compaction import compact
from common.storage.lake import Lake
lake = Lake(Path(sys.argv[1]))
while True:
    compact(lake, int(sys.argv[2]), int(sys.argv[3]), grace_s=0.0)
"""


@pytest.mark.integration
def test_a_kill_9_at_any_moment_of_a_compaction_leaves_each_offset_in_one_live_file(lake):
    total = archive_small_files(lake)
    rng = random.Random(7)
    for round_ in range(6):
        compactor = subprocess.Popen(
            [
                sys.executable,
                "-c",
                COMPACTOR,
                str(lake.root),
                str(SMALL * 2**round_),
                str(TARGET * 2**round_),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        time.sleep(rng.uniform(0.2, 1.5))  # a moment to strike at, not a wait for a state
        os.kill(compactor.pid, signal.SIGKILL)
        compactor.wait()
        assert read_everything(check_exact_cover(lake)) == (total, total)
    final = compact(lake, SMALL * 64, TARGET * 64, grace_s=0)
    live = check_exact_cover(lake)
    assert read_everything(live) == (total, total)
    assert final.deleted >= 0 and not list(lake.master.glob("g=*/p=*/.*.tmp*"))
