"""Compaction of the master dataset: the archiver writes a file per partition about every
second, hundreds of thousands a day, and every batch run would list and read them all.

Runs of small files of one partition, unbroken (each starts where the one before ended), are
rewritten as one file named by the run's whole range. Publishing it (a rename) is the commit:
from that moment ``Lake.master_files`` leaves out the files it holds, so a reader listing at
any moment sees every (generation, partition, offset) in exactly one live file, and a
``kill -9`` at any moment leaves either the old files or the new one live (a half-written
file is a temporary name no listing sees). Superseded files stay on disk for ``grace_s``
(a reader that listed them just before still reads them) and are deleted by a later pass.
The batch job compacts under the batch lock, so no batch run reads while it deletes.
"""

import logging
import time
from dataclasses import dataclass
from itertools import pairwise

import pyarrow as pa

from common.errors import DamagedFile
from common.storage.lake import Lake, MasterFile, live_files
from common.storage.master import read_table, write_table
from common.storage.quarantine import quarantine

log = logging.getLogger("batch")

SMALL_OFFSETS = 250_000
"""A file spanning fewer offsets than this is small: it is merged with its neighbours."""
TARGET_OFFSETS = 1_000_000
"""A merged file spans at most this many offsets (a few hundred MB of memory to write)."""
GRACE_S = 600.0
"""Superseded files are kept this long after the file that holds them was published."""


@dataclass(frozen=True)
class Compacted:
    """What one pass did."""

    merged: int  # small files rewritten ...
    written: int  # ... as this many files
    deleted: int  # superseded files deleted (their grace over)


def compact(
    lake: Lake,
    small: int = SMALL_OFFSETS,
    target: int = TARGET_OFFSETS,
    grace_s: float = GRACE_S,
) -> Compacted:
    """Delete the files superseded for ``grace_s``, then merge every unbroken run of small
    live files (at least two, at most ``target`` offsets each merged file)."""
    deleted = delete_superseded(lake, grace_s) + delete_stale_temporaries(lake, grace_s)
    merged = written = 0
    for run in runs_to_merge(lake.master_files(), small, target):
        try:
            merge(lake, run)
        except FileNotFoundError as exc:  # an archiver starting removed our temporary file
            log.warning("compaction of %s skipped: %s", run[0].path.parent, exc)
            continue
        except DamagedFile as exc:  # moved aside, archived again: its run waits for that
            quarantine(next(f for f in run if f.path == exc.path), exc)
            continue
        merged += len(run)
        written += 1
    if merged:
        log.info("compacted %d master files into %d", merged, written)
    return Compacted(merged, written, deleted)


def runs_to_merge(files: list[MasterFile], small: int, target: int) -> list[list[MasterFile]]:
    """Unbroken runs of small files of one partition, cut at ``target`` offsets; runs of one
    file are left alone. ``files``: live files, by generation, partition, offset."""
    runs: list[list[MasterFile]] = []
    current: list[MasterFile] = []

    def close() -> None:
        if len(current) > 1:
            runs.append(list(current))
        current.clear()

    for f in files:
        span = f.last - f.first + 1
        if current:
            previous = current[-1]
            joined = (
                (previous.generation, previous.partition) == (f.generation, f.partition)
                and f.first == previous.end
                and f.last - current[0].first + 1 <= target
            )
            if not joined or span >= small:
                close()
        if span < small:
            current.append(f)
    close()
    return runs


def merge(lake: Lake, run: list[MasterFile]) -> MasterFile:
    """Rewrite an unbroken run as one file (published by rename: the commit)."""
    assert all(b.first == a.end for a, b in pairwise(run)), "a run has no gaps"
    first, last = run[0], run[-1]
    table = pa.concat_tables([read_table(f.path) for f in run], promote_options="default")
    path = lake.master_path(first.generation, first.partition, first.first, last.last)
    write_table(path, table)
    return MasterFile(first.generation, first.partition, first.first, last.last, path)


def delete_superseded(lake: Lake, grace_s: float) -> int:
    """Delete files that a live file holds, once that file is ``grace_s`` old; how many."""
    every = lake.all_master_files()
    live = live_files(every)
    alive = {f.path for f in live}
    holders: dict[tuple[int, int], list[MasterFile]] = {}
    for f in live:
        holders.setdefault((f.generation, f.partition), []).append(f)
    cutoff = time.time() - grace_s
    deleted = 0
    for f in every:
        if f.path in alive:
            continue
        holder = next(
            h for h in holders[(f.generation, f.partition)] if h.first <= f.first <= h.last
        )
        try:
            if holder.path.stat().st_mtime <= cutoff:
                f.path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted


def delete_stale_temporaries(lake: Lake, grace_s: float) -> int:
    """Delete temporary files older than ``grace_s`` (a compaction killed mid-write)."""
    cutoff = time.time() - grace_s
    deleted = 0
    for tmp in lake.master.glob("g=*/p=*/.*.tmp*"):
        try:
            if tmp.stat().st_mtime <= cutoff:
                tmp.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted
