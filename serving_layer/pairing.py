"""Pairing: which batch version and speed snapshots one answer reads (each slice's snapshot
with the batch version it continues), and how far behind that pairing is."""

import logging
from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from common.errors import DamagedFile
from common.model.metric_kinds import SLICE_COLUMNS
from common.model.views import View
from common.storage.lake import BatchVersion, Lake, MasterFile
from common.storage.speed_store import (
    EARLIER,
    Earlier,
    SliceId,
    SlicePointer,
    SliceStore,
    read_pointers,
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
        return min(used, key=lambda v: v.version) if used else None


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
