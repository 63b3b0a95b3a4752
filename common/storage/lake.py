"""The on-disk layout of the data directory, and the atomic writes that publish into it.

    data/
      generation                      number of the topic incarnation being archived
      generation-topic.json           that incarnation's topic id, when the broker gives one
      master/g=<gen>/p=<p>/<first>-<last>.parquet   immutable, one file per offset range
      batch/versions/<version>/<view>/part-*.parquet  + version.json
      batch/manifest.json             the newest published batch version
      batch/runs/<id>.json            one record per batch run (storage/batch_runs.py)
      speed/...                       snapshots per slice (storage/speed_store.py)
      quarantine/...                  damaged master files, lost offsets (storage/quarantine.py)
      run/<service>.pid               process ids under `make run`

Every file a reader may open is published by writing a temporary file and renaming it.
"""

import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from common.errors import DamagedFile, LakeError
from common.storage.lake_files import FORMAT_VERSION, JsonFormat, read_json_or_none

log = logging.getLogger("lake")
MASTER_FILE_RE = re.compile(r"^(\d{20})-(\d{20})\.parquet$")
VERSION_WIDTH = 6

# Two conventions for offsets, each with its own name, and one place that converts:
Offsets = dict[int, dict[int, int]]
"""``LastCovered``: per generation, per partition, the last offset covered (inclusive). Only
what a batch version records (``version.json``) and ``contiguous_coverage`` returns."""
NextOffsets = dict[int, int]
"""Per partition, the first offset not covered (the next to read): consumer positions, log
ends, archived ends, speed snapshots. Everything but a batch version's record uses this."""


def next_after(covered: dict[int, int]) -> NextOffsets:
    """Per partition, the next offset after the last covered one: the one conversion."""
    return {p: last + 1 for p, last in covered.items()}


@dataclass(frozen=True)
class MasterFile:
    """One immutable master-dataset file: every record of [first, last] in one partition."""

    generation: int
    partition: int
    first: int
    last: int
    path: Path

    @property
    def end(self) -> int:
        """The offset after the file: the next one to read (``NextOffsets``' convention)."""
        return self.last + 1


@dataclass(frozen=True)
class BatchVersion:
    """A published batch run: what it covers and where its views are."""

    version: str
    computed_at: str
    events: int
    offsets: Offsets
    views: tuple[str, ...]
    duration_s: float = 0.0
    fingerprints: dict[str, str] = field(default_factory=dict)
    """Per view, the fingerprint of the definition it was computed under (``View.fingerprint``);
    empty for a version written before they were recorded, which matches no definition."""
    partition_events: Offsets = field(default_factory=dict)
    """Per generation and partition, the distinct events counted there (where each one's
    first copy lies): what a slice of the version holds."""

    format_version: int = field(default=FORMAT_VERSION, kw_only=True, compare=False)
    """The format of ``version.json`` (and ``manifest.json``, its copy) the record was read
    from or is written in; files written before formats were versioned have none (1)."""

    def to_json(self) -> dict[str, Any]:
        """The record as ``version.json`` holds it (generation and partition keys as strings)."""
        found: dict[str, Any] = VERSION_FILE.to_json(self)
        return found

    @classmethod
    def from_json(cls, raw: Any) -> "BatchVersion":
        """A record from parsed ``version.json``; pydantic's ``ValidationError`` (a
        ``ValueError``) when it is not one."""
        return VERSION_FILE.decode(raw)

    def events_of(self, generation: int, partition: int) -> int:
        """Distinct events of one partition of ``generation`` in this version."""
        return self.partition_events.get(generation, {}).get(partition, 0)

    def events_before(self, generation: int) -> int:
        """Distinct events of the generations before ``generation`` in this version."""
        return sum(sum(p.values()) for g, p in self.partition_events.items() if g < generation)

    def covered(self) -> dict[int, NextOffsets]:
        """Per generation, the next offset this version does not cover."""
        return {g: next_after(parts) for g, parts in self.offsets.items()}

    def next_offsets(self, generation: int) -> NextOffsets:
        """Per partition of ``generation``, the first offset this version does not cover."""
        return next_after(self.offsets.get(generation, {}))


VERSION_FILE = JsonFormat(BatchVersion)
"""``batch/versions/<version>/version.json`` and ``batch/manifest.json``: a ``BatchVersion``."""


class TopicIdRecord(BaseModel):
    """``generation-topic.json``: which topic (by the broker's id for it) a generation
    archives. Strict: a record of another shape says nothing about the generation."""

    model_config = ConfigDict(frozen=True, strict=True)

    generation: int
    topic_id: str
    format_version: int = FORMAT_VERSION


class Lake:
    """Paths and reads/writes of one data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.master = root / "master"
        self.batch = root / "batch"
        self.versions = self.batch / "versions"
        self.speed = root / "speed"
        self.run = root / "run"

    def ensure(self) -> None:
        """Create the directory skeleton."""
        for path in (self.master, self.versions, self.speed, self.run):
            path.mkdir(parents=True, exist_ok=True)

    # -- generations: one per incarnation of the topic ------------------------------
    @property
    def generation_file(self) -> Path:
        return self.root / "generation"

    def read_generation(self) -> int:
        """The current topic generation; LakeError if the pipeline was never prepared."""
        try:
            return int(self.generation_file.read_text().strip())
        except FileNotFoundError as exc:
            raise LakeError(
                f"{self.generation_file} is missing: start the pipeline (make run) first, "
                "or point LAMBDA_DATA_DIR at a running pipeline's data directory"
            ) from exc
        except (ValueError, UnicodeDecodeError):
            return self._generation_from_directories()

    def _generation_from_directories(self) -> int:
        """The generation a damaged ``generation`` file held: the newest one that has master
        or speed files (1 when none has). The runner writes the file anew at its next start
        (``runner.topic``), and a recreated topic is still found by its id or its ends."""
        found = [
            int(child.name.removeprefix("g="))
            for root in (self.master, self.speed)
            if root.is_dir()
            for child in root.iterdir()
            if child.name.startswith("g=") and child.name.removeprefix("g=").isdigit()
        ]
        generation = max(found, default=1)
        log.warning(
            "%s cannot be read: taking generation %d from the data directory",
            self.generation_file,
            generation,
        )
        return generation

    def repair_generation(self) -> None:
        """Write the ``generation`` file anew when it cannot be read (the runner, its writer)."""
        try:
            int(self.generation_file.read_text().strip())
        except FileNotFoundError:
            return
        except (ValueError, UnicodeDecodeError):
            write_atomic(self.generation_file, f"{self._generation_from_directories()}\n".encode())

    def start_generation(self, topic_id: str | None = None) -> int:
        """Begin a new generation (the topic was just created, so offsets restart at 0), of
        the topic with ``topic_id`` when the broker gives one."""
        try:
            current = self.read_generation()
        except LakeError:
            current = 0
        write_atomic(self.generation_file, f"{current + 1}\n".encode())
        if topic_id is not None:
            self.record_topic_id(current + 1, topic_id)
        return current + 1

    @property
    def topic_id_file(self) -> Path:
        return self.root / "generation-topic.json"

    def record_topic_id(self, generation: int, topic_id: str) -> None:
        """Record which topic (by the broker's id for it) ``generation`` archives."""
        record = TopicIdRecord(generation=generation, topic_id=topic_id)
        write_atomic(self.topic_id_file, record.model_dump_json().encode())

    def read_topic_id(self, generation: int) -> str | None:
        """The id of the topic ``generation`` archives; None when none was recorded for it
        (the broker gives none, or the generation began before ids were recorded)."""
        try:
            raw = read_json_or_none(self.topic_id_file)
        except DamagedFile as exc:
            raise LakeError(f"cannot read {self.topic_id_file}: {exc.reason}") from exc
        except OSError as exc:
            raise LakeError(f"cannot read {self.topic_id_file}: {exc}") from exc
        try:
            record = TopicIdRecord.model_validate(raw)
        except ValidationError:
            return None  # missing, or not a record (of any generation)
        return record.topic_id if record.generation == generation else None

    # -- the master dataset ----------------------------------------------------------
    def master_dir(self, generation: int, partition: int) -> Path:
        return self.master / f"g={generation:06d}" / f"p={partition}"

    def master_path(self, generation: int, partition: int, first: int, last: int) -> Path:
        return self.master_dir(generation, partition) / f"{first:020d}-{last:020d}.parquet"

    def master_files(self, generation: int | None = None) -> list[MasterFile]:
        """Every live master file (of one generation, or all), by generation, partition,
        offset. A file whose range another file's holds is not live: compaction publishes a
        file holding a run of files whole, which from that moment stands for them, so every
        offset is in exactly one live file whatever moment the directory is listed at."""
        return live_files(self.all_master_files(generation))

    def all_master_files(self, generation: int | None = None) -> list[MasterFile]:
        """Every master file, superseded ones included (what compaction collects)."""
        files: list[MasterFile] = []
        for gen_dir in _children(self.master, "g="):
            gen = int(gen_dir.name[2:])
            if generation is not None and gen != generation:
                continue
            for part_dir in _children(gen_dir, "p="):
                for path in part_dir.iterdir():
                    match = MASTER_FILE_RE.fullmatch(path.name)
                    if match:
                        first, last = int(match[1]), int(match[2])
                        files.append(MasterFile(gen, int(part_dir.name[2:]), first, last, path))
        return sorted(files, key=lambda f: (f.generation, f.partition, f.first))

    def archived_ends(
        self, generation: int, files: list[MasterFile] | None = None
    ) -> dict[int, int]:
        """Per partition of ``generation``, the offset after the last archived one
        (``files``: the master files, when the caller listed them already)."""
        ends: dict[int, int] = {}
        for f in self.master_files(generation) if files is None else files:
            if f.generation == generation:
                ends[f.partition] = max(ends.get(f.partition, 0), f.end)
        return ends

    def backlog(
        self,
        generation: int,
        covered: dict[int, NextOffsets],
        files: list[MasterFile] | None = None,
    ) -> list[tuple[MasterFile, int]]:
        """Files of generations before ``generation`` holding offsets that ``covered`` (per
        generation, the next offset not covered) does not, each with the first such offset
        (``files``: the master files, when the caller listed them already)."""
        found = []
        for f in self.master_files() if files is None else files:
            start = covered.get(f.generation, {}).get(f.partition, 0)
            if f.generation < generation and f.end > start:
                found.append((f, max(start, f.first)))
        return found

    # -- batch versions --------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.batch / "manifest.json"

    def read_manifest(self) -> BatchVersion | None:
        """The newest published batch version, or None before the first batch run. A
        manifest that cannot be read stands for the newest version whose own record can:
        it is a copy of that record, written after the version was renamed into place."""
        try:
            return VERSION_FILE.read_or_none(self.manifest_path)
        except DamagedFile as exc:
            log.error("%s; serving the newest readable batch version", exc)
        for version in reversed(self.published_versions()):
            try:
                found = self.read_version(version)
            except DamagedFile as exc:
                log.error("%s; version %s is not served", exc, version)
                continue
            if found is not None:
                return found
        return None

    def read_version(self, version: str) -> BatchVersion | None:
        """One version's record (``DamagedFile`` when it cannot be read)."""
        return VERSION_FILE.read_or_none(self.versions / version / "version.json")

    def publish_manifest(self, version: BatchVersion) -> None:
        write_atomic(self.manifest_path, VERSION_FILE.encode(version, indent=2))

    def next_version(self) -> str:
        """The name of the version after the newest one on disk."""
        numbers = [int(p.name) for p in _children(self.versions, "") if p.name.isdigit()]
        return f"{max(numbers, default=0) + 1:0{VERSION_WIDTH}d}"

    def view_dir(self, version: str, view: str) -> Path:
        return self.versions / version / view

    def published_versions(self) -> list[str]:
        return sorted(p.name for p in _children(self.versions, "") if p.name.isdigit())

    def collect_versions(self, keep: int, oldest_served: str | None) -> None:
        """Drop batch versions but the newest ``keep``: never ``oldest_served`` (the oldest
        base of a served speed slice) nor anything newer (the speed layer may be switching
        onto it), and leftovers of runs that never published."""
        for version in self.published_versions()[:-keep]:
            if oldest_served is None or version < oldest_served:
                remove_tree(self.versions / version)
        for leftover in self.versions.glob("*.tmp"):
            remove_tree(leftover)

    def pid_file(self, service: str) -> Path:
        return self.run / f"{service}.pid"


def live_files(files: Iterable[MasterFile]) -> list[MasterFile]:
    """The files no other file's range holds, by generation, partition, offset (of two with
    the same range, which compaction never writes, the first by name)."""
    live: list[MasterFile] = []
    reach: dict[tuple[int, int], int] = {}
    for f in sorted(files, key=lambda f: (f.generation, f.partition, f.first, -f.last)):
        key = (f.generation, f.partition)
        if f.last <= reach.get(key, -1):
            continue  # inside a file already kept
        live.append(f)
        reach[key] = f.last
    return live


class Span(Protocol):
    """Offsets ``first`` to ``last`` of one partition of one generation."""

    @property
    def generation(self) -> int: ...
    @property
    def partition(self) -> int: ...
    @property
    def first(self) -> int: ...
    @property
    def last(self) -> int: ...


def contiguous_coverage(
    files: Iterable[MasterFile], bridges: Iterable[Span] = (), blockers: Iterable[Span] = ()
) -> tuple[list[MasterFile], Offsets]:
    """The files forming an unbroken offset chain per partition, and the last offset covered.
    ``bridges``: ranges the chain goes on across (losses accepted); ``blockers``: ranges it
    stops at unless a file holds them (quarantined files, losses not accepted)."""
    files = sorted(files, key=lambda f: (f.generation, f.partition, f.first))
    items: list[tuple[int, int, int, int, Span]] = [
        (f.generation, f.partition, f.first, 0, f) for f in files
    ]
    items += [(b.generation, b.partition, b.first, 1, b) for b in bridges]
    items += [(b.generation, b.partition, b.first, 2, b) for b in blockers if not holds(files, b)]
    chosen: list[MasterFile] = []
    offsets: Offsets = {}
    expected: dict[tuple[int, int], int] = {}
    stopped: set[tuple[int, int]] = set()
    for generation, partition, first, kind, span in sorted(items, key=lambda i: i[:4]):
        key = (generation, partition)
        if key in stopped or span.last < expected.get(key, -1):
            continue
        if kind == 2 or (key in expected and first > expected[key]):
            stopped.add(key)  # a gap, or a range nothing holds: nothing after it is covered
            continue
        if kind == 0 and key in expected and first != expected[key]:
            stopped.add(key)  # an overlap: covering it would count offsets twice
            continue
        expected[key] = span.last + 1
        # An accepted loss is covered too (no file holds it; nothing will): a version whose
        # chain ends at one covers it, so a loss at a partition's tail does not look like a
        # version covering less than the one before.
        offsets.setdefault(generation, {})[partition] = span.last
        if kind == 0:
            chosen.append(span)  # type: ignore[arg-type]
    return chosen, offsets


def holds(files: list[MasterFile], span: Span) -> bool:
    """Whether ``files`` (by generation, partition, offset) hold every offset of ``span``."""
    reach = span.first
    for f in files:
        if (f.generation, f.partition) == (span.generation, span.partition) and f.first <= reach:
            reach = max(reach, f.end)
    return reach > span.last


def publish(path: Path, write: Callable[[Path], object], durable: bool = True) -> None:
    """Publish a file whole: ``write`` fills a temporary file beside ``path``, which is then
    renamed, so readers see the old file or the new, never half. ``durable``: flushed to disk
    first (and the rename after), so it also survives a crash of the machine; without, it
    survives the crash of any process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    if durable:
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never half."""
    publish(path, lambda tmp: tmp.write_bytes(data), durable)


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """Flush every file and directory below ``path`` to disk (before publishing it)."""
    for directory, _, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(directory))


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _children(path: Path, prefix: str) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_dir() and p.name.startswith(prefix))
