"""Damaged master files and offsets no layer holds: the one owner of ``quarantine/``.

    quarantine/master/g=<gen>/p=<p>/<first>-<last>.parquet   a master file that cannot be read,
    quarantine/master/g=<gen>/p=<p>/<first>-<last>.json      moved aside, and why (a record)
    quarantine/lost.json       offset ranges neither the log nor the archive holds (the archiver's)
    quarantine/accepted.json   the losses ``make accept-loss`` acknowledged

Whoever meets a master file that cannot be read (``DamagedFile``) moves it here by one rename
(``quarantine``): from then on no listing sees it, so its range is a hole in the chain, and the
archiver archives that range again from the log (``holes``). What the log no longer holds is
*lost*: the archiver records it in ``lost.json``. A hole or loss stops the batch chain (batch
runs cover up to it, ``coverage``) until ``make accept-loss`` writes it into ``accepted.json``;
an accepted loss is bridged, and answers keep naming every loss in ``meta.batch.lost``.
"""

import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from common.errors import DamagedFile
from common.model.timeutil import utc_now_text
from common.storage.lake import (
    Lake,
    MasterFile,
    Offsets,
    contiguous_coverage,
    holds,
    live_files,
    write_atomic,
)
from common.storage.lake_files import FORMAT_VERSION, JsonFormat, read_json

log = logging.getLogger("lake")


@dataclass(frozen=True, order=True)
class OffsetRange:
    """Offsets ``first`` to ``last`` (inclusive) of one partition of one generation."""

    generation: int
    partition: int
    first: int
    last: int

    @property
    def end(self) -> int:
        return self.last + 1

    def to_json(self) -> dict[str, int]:
        """The range as ``lost.json``, ``accepted.json`` and answers (``meta.batch.lost``)
        hold it."""
        return asdict(self)

    @classmethod
    def of(cls, f: MasterFile) -> "OffsetRange":
        return cls(f.generation, f.partition, f.first, f.last)


@dataclass(frozen=True)
class Quarantined:
    """A master file moved aside: where it was, its range, why and when."""

    path: str
    range: OffsetRange
    reason: str
    at: str

    def to_json(self) -> dict[str, Any]:
        """The record as ``/status`` answers it (its range's fields inline)."""
        return {"path": self.path, **self.range.to_json(), "reason": self.reason, "at": self.at}


class QuarantineRecord(BaseModel):
    """``quarantine/master/.../<first>-<last>.json``: why a master file was moved aside. Its
    range's fields are inline, as ``/status`` answers them."""

    model_config = ConfigDict(frozen=True)

    path: str
    generation: int
    partition: int
    first: int
    last: int
    reason: str
    at: str
    format_version: int = FORMAT_VERSION

    @classmethod
    def of(cls, q: Quarantined) -> "QuarantineRecord":
        return cls.model_validate(q.to_json())

    def quarantined(self) -> Quarantined:
        span = OffsetRange(self.generation, self.partition, self.first, self.last)
        return Quarantined(self.path, span, self.reason, self.at)


RANGES_FILE = JsonFormat(list[OffsetRange])
"""``quarantine/lost.json`` and ``accepted.json``: a JSON list of ranges (a list, as readers
of earlier versions expect, so it has no place for a ``format_version``)."""


def quarantine_dir(lake: Lake) -> Path:
    return lake.root / "quarantine"


def _master_dir(lake: Lake) -> Path:
    return quarantine_dir(lake) / "master"


def quarantine(f: MasterFile, damage: DamagedFile) -> None:
    """Move a master file that cannot be read aside (one rename: no listing sees it after),
    with a record of why. Another process doing the same first is fine."""
    lake = Lake(f.path.parents[3])  # <root>/master/g=<gen>/p=<p>/<file>
    relative = f.path.relative_to(lake.master)
    target = _master_dir(lake) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    record = Quarantined(str(f.path), OffsetRange.of(f), damage.reason, utc_now_text())
    write_atomic(
        target.with_suffix(".json"), QuarantineRecord.of(record).model_dump_json().encode()
    )
    try:
        os.replace(f.path, target)
    except FileNotFoundError:  # moved by someone else, or collected (then no record)
        if not target.exists():
            target.with_suffix(".json").unlink(missing_ok=True)
        return
    log.error(
        "master file %s (generation %d, partition %d, offsets %d-%d) cannot be read (%s): "
        "moved to %s; its offsets are archived again from the log where it still holds them",
        f.path,
        f.generation,
        f.partition,
        f.first,
        f.last,
        damage.reason,
        target,
    )


def quarantined(lake: Lake) -> list[Quarantined]:
    """Every master file moved aside, oldest range first (a damaged record is skipped)."""
    found = []
    for path in sorted(_master_dir(lake).glob("g=*/p=*/*.json")):
        try:
            found.append(read_json(path, QuarantineRecord.model_validate).quarantined())
        except (DamagedFile, FileNotFoundError):
            continue
    return sorted(found, key=lambda q: q.range)


def holes(files: Iterable[MasterFile]) -> list[OffsetRange]:
    """The offsets between live files (and before a partition's first) that no file holds."""
    found = []
    reach: dict[tuple[int, int], int] = {}
    for f in live_files(files):
        key = (f.generation, f.partition)
        expected = reach.get(key, 0)
        if f.first > expected:
            found.append(OffsetRange(f.generation, f.partition, expected, f.first - 1))
        reach[key] = max(expected, f.end)
    return found


def _read_ranges(path: Path) -> list[OffsetRange]:
    try:
        found = RANGES_FILE.read_or_none(path)
    except DamagedFile as exc:
        log.error("%s; treated as empty", exc)
        return []
    return sorted(found or [])


def lost(lake: Lake) -> list[OffsetRange]:
    """Offset ranges neither the log nor the archive holds (what the archiver found)."""
    return _read_ranges(quarantine_dir(lake) / "lost.json")


def accepted(lake: Lake) -> list[OffsetRange]:
    """The losses ``make accept-loss`` acknowledged: batch runs cover what comes after them."""
    return _read_ranges(quarantine_dir(lake) / "accepted.json")


def record_lost(lake: Lake, ranges: Iterable[OffsetRange]) -> list[OffsetRange]:
    """Add ``ranges`` to the losses (the archiver, their one writer); return the new ones."""
    known = set(lost(lake))
    new = sorted(set(ranges) - known)
    if new:
        everything = sorted(known | set(new))
        write_atomic(quarantine_dir(lake) / "lost.json", RANGES_FILE.encode(everything))
    return new


def accept_losses(lake: Lake) -> list[OffsetRange]:
    """Acknowledge every loss recorded so far; return those newly accepted."""
    already = set(accepted(lake))
    new = sorted(set(lost(lake)) - already)
    if new:
        everything = sorted(already | set(new))
        write_atomic(quarantine_dir(lake) / "accepted.json", RANGES_FILE.encode(everything))
    return new


def coverage(lake: Lake, files: list[MasterFile]) -> tuple[list[MasterFile], Offsets]:
    """``contiguous_coverage`` of ``files`` that goes on across an accepted loss and stops
    at the part of a quarantined range or of a loss not accepted that neither a file nor an
    accepted loss holds (a quarantined file that was archived again in part, the rest lost
    and accepted, blocks nothing)."""
    bridges = accepted(lake)
    held = [OffsetRange.of(f) for f in files] + bridges
    spans = [q.range for q in quarantined(lake)] + lost(lake)
    blockers = [part for span in spans for part in uncovered(span, held)]
    return contiguous_coverage(files, bridges=bridges, blockers=blockers)


def uncovered(span: OffsetRange, held: list[OffsetRange]) -> list[OffsetRange]:
    """The parts of ``span`` that no range of ``held`` holds."""
    parts = []
    position = span.first
    same = (span.generation, span.partition)
    for h in sorted(r for r in held if (r.generation, r.partition) == same):
        if h.last < position or h.first > span.last:
            continue
        if h.first > position:
            parts.append(replace(span, first=position, last=h.first - 1))
        position = max(position, h.end)
    if position <= span.last:
        parts.append(replace(span, first=position))
    return parts


def losses_status(lake: Lake, files: list[MasterFile] | None = None) -> dict[str, Any]:
    """For ``/status``: what was moved aside (and whether files hold its offsets again:
    ``archived_again``), and what is lost (``accepted`` once acknowledged)."""
    files = lake.master_files() if files is None else files
    return {
        "quarantined": [
            {**q.to_json(), "archived_again": holds(files, q.range)} for q in quarantined(lake)
        ],
        "lost": lost_ranges(lake),
    }


def lost_ranges(lake: Lake) -> list[dict[str, Any]]:
    """``meta.batch.lost``: every lost range, accepted or not."""
    taken = set(accepted(lake))
    return [{**r.to_json(), "accepted": r in taken} for r in sorted(set(lost(lake)) | taken)]
