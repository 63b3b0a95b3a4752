"""Which batch version and speed snapshot answer a query, and how far behind the speed view is."""

import logging
import threading
import time
from collections.abc import Hashable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from common.errors import BrokerError, DamagedFile
from common.model.metric_kinds import SLICE_COLUMNS
from common.model.timeutil import now_ms, parse_rfc3339
from common.model.views import View
from common.runtime.kafka import EndOffsets, bootstrap_reachable
from common.runtime.settings import CommonSettings
from common.storage.lake import BatchVersion, Lake, MasterFile
from common.storage.quarantine import lost_ranges
from common.storage.speed_store import (
    EARLIER,
    Earlier,
    SliceId,
    SlicePointer,
    SliceStore,
    read_members,
    read_pointers,
    slice_name,
    slice_order,
)
from serving_layer.definitions import pending_reason

log = logging.getLogger("serving")
GENERATION, PARTITION = SLICE_COLUMNS


@dataclass(frozen=True)
class BatchPart:
    """The rows of one batch version that answer: those of the slices paired with it, or
    (``complement``, the newest version) every row but those of the slices paired elsewhere."""

    version: BatchVersion
    partitions: frozenset[SliceId]
    complement: bool

    def condition(self, generation: int) -> tuple[str, list[Any]] | None:
        """The SQL condition (and its parameters) on the hidden slice columns; None: all."""
        if self.complement and not self.partitions:
            return None
        terms: list[str] = []
        params: list[Any] = []
        current = sorted(p for p in self.partitions if p != EARLIER)
        if current:
            marks = ", ".join("?" for _ in current)
            terms.append(f"({GENERATION} = ? AND {PARTITION} IN ({marks}))")
            params += [generation, *current]
        if EARLIER in self.partitions:
            terms.append(f"{GENERATION} < ?")
            params.append(generation)
        condition = " OR ".join(terms) if terms else "false"
        return (f"NOT ({condition})" if self.complement else condition), params

    def key(self, generation: int) -> Hashable:
        """What the part's rows depend on (its condition names the generation)."""
        return (self.version.version, generation, self.partitions, self.complement)


@dataclass(frozen=True)
class Served:
    """What answers now: per slice (partition, or the earlier generations) its speed snapshot
    and the batch version it continues; the newest batch version for slices without one."""

    generation: int
    lake: Lake
    newest: BatchVersion | None
    slices: dict[SliceId, SlicePointer]
    versions: dict[str, BatchVersion]

    def base_of(self, partition: SliceId) -> BatchVersion | None:
        """The batch version paired with a slice."""
        pointer = self.slices.get(partition)
        if pointer is None:
            return self.newest
        return None if pointer.base_version is None else self.versions[pointer.base_version]

    def without(self, partitions: set[SliceId]) -> "Served":
        """This pairing with the snapshots of ``partitions`` left out (their files cannot be
        read): those slices answer from the newest version, and the lag counts the rest."""
        kept = {p: s for p, s in self.slices.items() if p not in partitions}
        return replace(self, slices=kept)

    def slice_of(self, path: Path) -> SliceId | None:
        """The slice whose snapshot names the file ``path``."""
        for partition, pointer in self.slices.items():
            store = SliceStore(self.lake, pointer.generation, pointer.slice_id)
            if path.parent == store.dir and path.name in pointer.names():
                return partition
        return None

    def batch_parts(self) -> list[BatchPart]:
        newest = self.newest.version if self.newest else None
        elsewhere: dict[str | None, set[SliceId]] = {}
        for partition, pointer in self.slices.items():
            if pointer.base_version != newest:
                elsewhere.setdefault(pointer.base_version, set()).add(partition)
        parts = []
        if self.newest is not None:
            moved = frozenset(p for group in elsewhere.values() for p in group)
            parts.append(BatchPart(self.newest, moved, complement=True))
        for version, partitions in sorted(elsewhere.items(), key=lambda kv: str(kv[0])):
            if version is not None:
                parts.append(BatchPart(self.versions[version], frozenset(partitions), False))
        return parts

    def pending(self, view: View, source: str) -> str | None:
        """Why this pairing cannot answer ``view`` (its data is of another definition)."""
        batches = [part.version for part in self.batch_parts()]
        return pending_reason(view, source, batches, list(self.slices.values()))

    def batch_files(self, part: BatchPart, view: str) -> list[Path]:
        """A batch part's files of ``view``; FileNotFoundError if the version was collected."""
        directory = self.lake.view_dir(part.version.version, view)
        files = sorted(directory.glob("*.parquet"))
        if not files:
            raise FileNotFoundError(directory)
        return files

    def speed_slices(self, view: str) -> list[list[Path]]:
        """Each slice's files of ``view``, oldest segment first: the last is the open segment
        (rewritten by every snapshot), those before it sealed."""
        return [
            SliceStore(self.lake, pointer.generation, pointer.slice_id).view_files(pointer, view)
            for pointer in self.slices.values()
        ]

    def lag(self, ends: dict[int, int]) -> int:
        """Events on the topic (or archived from an earlier generation) the answer lacks."""
        return self.behind(ends) + self.unreflected_archive() + self.unread()

    def behind(self, ends: dict[int, int]) -> int:
        """Events on the topic past what each partition's snapshot (or batch) reflects: the
        part of the lag that reading the topic brings down."""
        behind = 0
        for partition, end in ends.items():
            pointer = self.slices.get(partition)
            if pointer is not None:
                reflected = pointer.next_offset
            else:
                covered = self.newest.next_offsets(self.generation) if self.newest else {}
                reflected = covered.get(partition, 0)
            behind += max(0, end - reflected)
        return behind

    def unreflected_archive(self, files: list[MasterFile] | None = None) -> int:
        """Archived events of earlier topic generations that neither the newest batch version
        nor a snapshot of the earlier generations holds."""
        if EARLIER in self.slices:
            return 0
        covered = self.newest.covered() if self.newest else {}
        backlog = self.lake.backlog(self.generation, covered, files)
        return sum(f.end - start for f, start in backlog)

    def unread(self) -> int:
        """Offsets the speed views are past that nobody read: retention deleted them before
        the archiver got them. The answer lacks them, so the lag never reaches 0."""
        return sum(pointer.missing for pointer in self.slices.values())

    def batch_events(self) -> int:
        """Distinct events the batch side of the answer holds, slice by slice."""
        if not self.slices:
            return self.newest.events if self.newest else 0
        partitions = {s for s in self.slices if not isinstance(s, Earlier)}
        for version in (self.newest, *self.versions.values()):
            if version is not None:
                partitions |= set(version.partition_events.get(self.generation, {}))
        total = 0
        for partition in partitions:
            base = self.base_of(partition)
            total += base.events_of(self.generation, partition) if base else 0
        earlier = self.base_of(EARLIER)
        return total + (earlier.events_before(self.generation) if earlier else 0)

    def oldest_version(self) -> BatchVersion | None:
        """The oldest batch version the answer uses: it holds at least that."""
        used = [part.version for part in self.batch_parts()]
        return min(used, key=lambda v: v.version, default=None)


def resolve(lake: Lake) -> Served:
    """Every slice's snapshot, paired with the batch version it is based on."""
    generation = lake.read_generation()
    slices = read_pointers(lake, generation)
    newest = lake.read_manifest()
    versions: dict[str, BatchVersion] = {}
    for base in {p.base_version for p in slices.values() if p.base_version is not None}:
        try:
            found = newest if newest and newest.version == base else lake.read_version(base)
        except DamagedFile as exc:
            # Its slices answer from the newest version instead, and the lag counts the rest.
            log.error("%s; the slices based on it are left out of answers", exc)
            slices = {p: s for p, s in slices.items() if s.base_version != base}
            continue
        if found is None:
            # Collected between reading the pointer and the version: the caller retries.
            raise FileNotFoundError(lake.versions / base / "version.json")
        versions[base] = found
    return Served(generation, lake, newest, slices, versions)


def ends_within(ends: Future[dict[int, int] | None], timeout_s: float) -> dict[int, int] | None:
    """The end offsets, if their read is back within ``timeout_s``: an answer never waits
    long on its metadata. Late, the lag is unknown (null) rather than computed from older
    offsets, which could understate it (the read goes on, and the next answers share it)."""
    try:
        return ends.result(timeout=timeout_s)
    except FutureTimeout:
        return None


class LagProbe:
    """Counts the events on the topic that a speed snapshot does not reflect yet."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self._ends: EndOffsets | None = None
        # Request threads share the probe: one creates, reads or closes its consumer at a time.
        self._lock = threading.Lock()
        # (when the last read began, its ends or None when it failed)
        self._last: tuple[float, dict[int, int] | None] | None = None
        self._read_at: float | None = None  # when the last read that succeeded began

    def ends(self) -> dict[int, int] | None:
        """The topic's end offsets as of this call or later, or None when the broker cannot be
        reached. Concurrent callers share one read: a caller waiting while another read
        began after it takes that read's result (or failure) instead of reading again, so
        callers queued behind a broker that hangs do not each wait out a read of their own."""
        asked = time.monotonic()
        with self._lock:
            if self._last is not None and self._last[0] >= asked:
                return self._last[1]
            began = time.monotonic()
            found = self._read()
            self._last = (began, found)
            if found is not None:
                self._read_at = began
            return found

    def read_within(self, seconds: float) -> bool:
        """Whether a read of the end offsets that began in the last ``seconds`` succeeded
        (never waits: what /health says of a broker that does not answer in time)."""
        read_at = self._read_at
        return read_at is not None and time.monotonic() - read_at <= seconds

    def _read(self) -> dict[int, int] | None:
        if self._ends is None and not bootstrap_reachable(self.settings.kafka_bootstrap):
            return None
        try:
            if self._ends is None:
                self._ends = EndOffsets(self.settings)
            return self._ends.read()
        except BrokerError as exc:
            log.warning("cannot read end offsets: %s", exc)
            self._close()
            return None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._ends is not None:
            try:
                self._ends.close()
            finally:
                self._ends = None


def archive_status(lake: Lake, generation: int, ends: dict[int, int] | None) -> dict[str, Any]:
    """How far the archiver has come: files, records, age of the newest file, lag behind."""
    files = lake.master_files(generation)
    written = lake.archived_ends(generation)
    newest = max((f.path.stat().st_mtime for f in files), default=None)
    behind = None if ends is None else sum(max(0, e - written.get(p, 0)) for p, e in ends.items())
    return {
        "generation": generation,
        "files": len(files),
        "offsets": sum(written.values()),
        "newest_file_age_s": None if newest is None else round(time.time() - newest, 3),
        "lag": behind,
    }


def meta(served: Served, lag: int | None, source: str) -> dict[str, Any]:
    """The ``meta`` block of an answer."""
    batch = served.oldest_version()
    newest = max(served.slices.values(), key=lambda p: p.written_at, default=None)
    speed_age = None
    if newest is not None:
        speed_age = round((now_ms() - parse_rfc3339(newest.written_at)) / 1000, 3)
    return {
        "source": source,
        "batch": {
            "version": batch.version if batch else None,
            "events": served.batch_events(),
            "computed_at": batch.computed_at if batch else None,
            "duration_s": batch.duration_s if batch else None,
            "lost": lost_ranges(served.lake),
        },
        "speed": {
            "events": sum(p.events for p in served.slices.values()),
            "lag": lag,
            "snapshot": _snapshot_name(newest),
            "written_at": newest.written_at if newest else None,
            "age_s": speed_age,
        },
    }


def _snapshot_name(pointer: SlicePointer | None) -> str | None:
    """The newest slice snapshot, as ``p=<partition>/<sequence>``."""
    if pointer is None:
        return None
    return f"{slice_name(pointer.slice_id)}/{pointer.sequence}"


def partitions_status(served: Served) -> dict[str, dict[str, Any]]:
    """Per slice: the batch version it is paired with, its offset and owner."""
    found: dict[str, dict[str, Any]] = {}
    for partition, pointer in sorted(served.slices.items(), key=lambda s: slice_order(s[0])):
        found["earlier" if partition == EARLIER else str(partition)] = {
            "batch_version": pointer.base_version,
            "next_offset": pointer.next_offset,
            "events": pointer.events,
            "written_at": pointer.written_at,
            "replica": pointer.owner,
        }
    return found


def replicas_status(lake: Lake) -> list[dict[str, Any]]:
    """The live speed-layer replicas and the partitions each owns; a replica without any
    (more replicas than partitions) is idle."""
    return [{**member, "idle": not member.get("partitions")} for member in read_members(lake)]
