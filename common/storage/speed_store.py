"""Speed-layer snapshots on disk, one chain of files per slice: the owner of their format.

    speed/g=<gen>/p=<partition>/current.json          the slice's pointer (SlicePointer)
    speed/g=<gen>/p=<partition>/<seq>.<view>.parquet  a segment's rows of one view
    speed/g=<gen>/p=<partition>/<seq>.ids.parquet     the event ids counted in a segment
    speed/g=<gen>/earlier/...                         the slice of earlier topic generations
    speed/members/<replica>.lock, .json               live replicas (speed_layer/membership.py)

A slice (``SliceId``) is one partition of the current topic generation, or ``EARLIER``: the
archived events of earlier generations that its batch version does not cover. Its state is a list of
*segments*, each the state of a stretch of offsets: per view one file, plus the ids counted.
Their rows add up (every metric's state combines: counts and sums add, minima and maxima
combine, sketches union), so a snapshot rewrites only the newest segment, and a new batch
version drops the segments it covers whole. The pointer names the segments, the batch version
the state continues and the offset it reflects; it is replaced atomically, and a file is only
deleted some seconds after no pointer names it. Snapshots are not flushed to disk (a
snapshot every 0.2 s per partition would wait on the disk, behind whatever else writes): they
survive any process's crash, and after a crash of the machine a partition whose snapshot
cannot be read is built anew from its batch version.
"""

import enum
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BeforeValidator, Field, PlainSerializer

from common.errors import DamagedFile
from common.storage.lake import Lake, publish, remove_tree, write_atomic
from common.storage.lake_files import (
    FORMAT_VERSION,
    JsonFormat,
    check_parquet,
    read_json,
    read_parquet,
)
from common.storage.locks import is_held

log = logging.getLogger("speed")


class Earlier(enum.Enum):
    """The slice of archived events of earlier topic generations: a type of its own, so it is
    never taken for a Kafka partition (nor one for it)."""

    EARLIER = "earlier"

    def __str__(self) -> str:
        return self.value


EARLIER = Earlier.EARLIER
SliceId = int | Earlier
"""A slice: a partition of the current topic generation (its number), or ``EARLIER``."""
_EARLIER_IN_POINTER = -1
"""How a pointer file names ``EARLIER`` (its ``partition`` field): only this module reads it."""


def slice_name(slice_id: SliceId) -> str:
    """The slice's directory name: ``p=<partition>``, or ``earlier``."""
    return slice_id.value if isinstance(slice_id, Earlier) else f"p={slice_id}"


def slice_order(slice_id: SliceId) -> tuple[int, int]:
    """A sort key: ``EARLIER`` first, then the partitions in order."""
    return (0, 0) if isinstance(slice_id, Earlier) else (1, slice_id)


def _slice_of_pointer(raw: Any) -> Any:
    return EARLIER if raw == _EARLIER_IN_POINTER else raw


def _slice_in_pointer(slice_id: SliceId) -> int:
    return _EARLIER_IN_POINTER if isinstance(slice_id, Earlier) else slice_id


IDS = "ids"
IDS_SCHEMA = pa.schema([("id", pa.string())])
RETIRED_GRACE_S = 30.0
"""How long a file no pointer names is kept for readers that resolved an older pointer."""


@dataclass(frozen=True)
class Segment:
    """The state of one stretch of offsets ``[first, end)`` of a slice: per view one file,
    and the ids counted in it. Segments of a slice add up; a new batch version drops those
    it covers whole."""

    first: int
    end: int
    events: int
    files: dict[str, str]
    ids: str | None = None

    def names(self) -> set[str]:
        return set(self.files.values()) | ({self.ids} if self.ids else set())


@dataclass(frozen=True)
class SlicePointer:
    """The published state of one slice."""

    generation: int
    slice_id: Annotated[
        SliceId,
        Field(alias="partition"),
        BeforeValidator(_slice_of_pointer),
        PlainSerializer(_slice_in_pointer, return_type=int),
    ]
    """In ``current.json`` its ``partition``: the number, or -1 for ``EARLIER``."""
    base_version: str | None
    next_offset: int
    """The first offset of the partition the state does not reflect (0 for ``EARLIER``)."""
    events: int
    written_at: str
    segments: tuple[Segment, ...] = ()
    """Oldest first; the last may still grow (its files are rewritten until it is sealed)."""
    fingerprints: dict[str, str] = field(default_factory=dict)
    missing: int = 0
    """Offsets before ``next_offset`` that no layer could read (retention deleted them before
    they were archived): counted in the lag."""
    owner: str = ""
    sequence: int = 0
    format_version: int = field(default=FORMAT_VERSION, kw_only=True, compare=False)
    """The format of ``current.json`` the pointer was read from or is written in; pointers
    written before formats were versioned have none (1)."""

    @property
    def views(self) -> tuple[str, ...]:
        """The views the state holds (those it was built for)."""
        return tuple(self.fingerprints)

    def view_files(self, view: str) -> list[str]:
        return [seg.files[view] for seg in self.segments if view in seg.files]

    def names(self) -> set[str]:
        """Every file the pointer names."""
        return {name for seg in self.segments for name in seg.names()}

    def to_json(self) -> dict[str, Any]:
        """The pointer as ``current.json`` holds it."""
        found: dict[str, Any] = POINTER_FILE.to_json(self)
        return found

    @classmethod
    def from_json(cls, raw: Any) -> "SlicePointer":
        """A pointer from parsed ``current.json``; pydantic's ``ValidationError`` (a
        ``ValueError``) when it is not one."""
        return POINTER_FILE.decode(raw)


POINTER_FILE = JsonFormat(SlicePointer)
"""``speed/g=<gen>/<slice>/current.json``: a ``SlicePointer``, its segments inline."""


def members_dir(lake: Lake) -> Path:
    return lake.speed / "members"


def member_locks(lake: Lake) -> list[Path]:
    """Every replica's lock file, live or dead, in id (join) order."""
    return sorted(members_dir(lake).glob("*.lock"))


def read_members(lake: Lake) -> list[dict[str, Any]]:
    """What each live replica last reported (its id, pid and partitions)."""
    found = []
    for path in member_locks(lake):
        if not is_held(path):
            continue
        try:
            found.append(read_json(path.with_suffix(".json"), _member))
        except (FileNotFoundError, DamagedFile):
            continue
    return found


def _member(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError("not a replica's report")
    return raw


def generation_dir(lake: Lake, generation: int) -> Path:
    return lake.speed / f"g={generation:06d}"


def slice_dir(lake: Lake, generation: int, slice_id: SliceId) -> Path:
    return generation_dir(lake, generation) / slice_name(slice_id)


def read_pointers(lake: Lake, generation: int) -> dict[SliceId, SlicePointer]:
    """Every slice pointer of ``generation``, by slice (``EARLIER`` included)."""
    found: dict[SliceId, SlicePointer] = {}
    root = generation_dir(lake, generation)
    if not root.is_dir():
        return found
    for child in root.iterdir():
        pointer = SliceStore(lake, generation, _slice_of_name(child.name)).read()
        if pointer is not None:
            found[pointer.slice_id] = pointer
    return found


def _slice_of_name(name: str) -> SliceId:
    return EARLIER if name == EARLIER.value else int(name.removeprefix("p="))


class SliceStore:
    """Reads and writes one slice's directory."""

    def __init__(self, lake: Lake, generation: int, slice_id: SliceId) -> None:
        self.generation = generation
        self.slice_id = slice_id
        self.dir = slice_dir(lake, generation, slice_id)
        self.lock_path = self.dir / ".lock"
        self._retired: list[tuple[float, str]] = []

    @property
    def pointer_path(self) -> Path:
        return self.dir / "current.json"

    def read(self) -> SlicePointer | None:
        """The slice's pointer; None when there is none, or it cannot be read (the slice is
        then built anew from its batch version, and served as if it had no snapshot)."""
        try:
            return POINTER_FILE.read_or_none(self.pointer_path)
        except DamagedFile as exc:
            log.error("%s; the partition is built anew from its batch version", exc)
            return None

    def publish(self, pointer: SlicePointer) -> None:
        write_atomic(self.pointer_path, POINTER_FILE.encode(pointer), durable=False)

    def path(self, name: str) -> Path:
        return self.dir / name

    def view_files(self, pointer: SlicePointer, view: str) -> list[Path]:
        return [self.path(name) for name in pointer.view_files(view)]

    def write_table(self, sequence: int, what: str, table: pa.Table) -> str:
        """Publish ``table`` as the file of ``what`` (a view, or ``IDS``) at ``sequence``."""
        name = f"{sequence:012d}.{what}.parquet"
        publish(
            self.path(name),
            lambda tmp: pq.write_table(table, tmp, compression="none"),
            durable=False,
        )
        return name

    def write_ids(self, sequence: int, ids: Iterable[str]) -> str:
        return self.write_table(sequence, IDS, pa.table({"id": pa.array(list(ids), pa.string())}))

    def read_ids(self, segments: Iterable[Segment]) -> set[str]:
        """The ids counted in ``segments``."""
        seen: set[str] = set()
        for seg in segments:
            if seg.ids:
                table = read_parquet(self.path(seg.ids), schema=IDS_SCHEMA)
                seen.update(table["id"].to_pylist())
        return seen

    def damaged(self, pointer: SlicePointer) -> DamagedFile | None:
        """The first file ``pointer`` names that cannot be read (by its footer), if any."""
        for name in sorted(pointer.names()):
            try:
                check_parquet(self.path(name))
            except DamagedFile as exc:
                return exc
            except FileNotFoundError as exc:
                return DamagedFile(self.path(name), f"missing: {exc}")
        return None

    def retire(self, names: Iterable[str]) -> None:
        """Files no pointer names any more: deleted once readers are done with them."""
        now = time.monotonic()
        self._retired.extend((now, name) for name in names)

    def highest_sequence(self) -> int:
        """The highest sequence any file in the directory was written under (0: none)."""
        found = [int(p.name.split(".", 1)[0]) for p in self.dir.glob("[0-9]*.parquet")]
        return max(found, default=0)

    def retire_unreferenced(self, pointer: SlicePointer | None) -> None:
        """Files left by an earlier owner that ``pointer`` does not name."""
        named = set() if pointer is None else pointer.names()
        if self.dir.is_dir():
            self.retire(p.name for p in self.dir.glob("*.parquet") if p.name not in named)

    def collect(self, named: set[str], grace_s: float = RETIRED_GRACE_S) -> None:
        """Delete retired files older than ``grace_s``, but none of ``named`` (what the
        current pointer names)."""
        cutoff = time.monotonic() - grace_s
        keep = []
        for retired_at, name in self._retired:
            if name in named:
                continue
            if retired_at <= cutoff:
                self.path(name).unlink(missing_ok=True)
            else:
                keep.append((retired_at, name))
        self._retired = keep


def oldest_base(lake: Lake) -> str | None:
    """The oldest batch version a slice of the current generation is based on: the batch
    layer keeps it (and every newer one) while it is served."""
    bases = [
        p.base_version
        for p in read_pointers(lake, lake.read_generation()).values()
        if p.base_version is not None
    ]
    return min(bases, default=None)


def remove_stale(lake: Lake, generation: int) -> None:
    """Snapshots nobody serves any more: of earlier topic generations, and of the layout
    before slices (``speed/snapshots``, ``speed/current.json``)."""
    remove_tree(lake.speed / "snapshots")
    (lake.speed / "current.json").unlink(missing_ok=True)
    for child in lake.speed.glob("g=*"):
        if child.is_dir() and int(child.name[2:]) < generation:
            remove_tree(child)
