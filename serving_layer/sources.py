"""Which batch version and speed snapshot answer a query, and how far behind the speed view is."""

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import BrokerError
from common.kafka import EndOffsets, bootstrap_reachable
from common.lake import BatchVersion, Lake, SpeedPointer
from common.settings import CommonSettings
from common.timeutil import now_ms, parse_rfc3339
from common.views import View
from serving_layer.definitions import pending_reason

log = logging.getLogger("serving")


@dataclass(frozen=True)
class Served:
    """A consistent pair: the speed snapshot and the batch version it was built on."""

    batch: BatchVersion | None
    speed: SpeedPointer | None
    generation: int
    lake: Lake

    def pending(self, view: View, source: str) -> str | None:
        """Why this pair cannot answer ``view`` (its data is of another definition), or None."""
        return pending_reason(view, source, self.batch, self.speed)

    def batch_files(self, view: str) -> list[Path]:
        if self.batch is None:
            return []
        return sorted(self.lake.view_dir(self.batch.version, view).glob("*.parquet"))

    def speed_files(self, view: str) -> list[Path]:
        if self.speed is None:
            return []
        path = self.lake.snapshot_dir(self.speed.snapshot) / f"{view}.parquet"
        return [path] if path.exists() else []

    def files(self, view: str, source: str) -> tuple[list[Path], list[Path]]:
        """The batch and the speed state files answering ``view`` from ``source`` (a view that
        :meth:`pending` lets through); FileNotFoundError if the pair was collected under us."""
        batch = self.batch_files(view) if source in ("merged", "batch") else []
        speed = self.speed_files(view) if source in ("merged", "speed") else []
        if source in ("merged", "batch") and self.batch is not None and not batch:
            raise FileNotFoundError(self.lake.view_dir(self.batch.version, view))
        if source in ("merged", "speed") and self.speed is not None and not speed:
            raise FileNotFoundError(self.lake.snapshot_dir(self.speed.snapshot) / view)
        return batch, speed

    def unreflected_archive(self) -> int:
        """Archived events of earlier topic generations that the served pair lacks.

        A speed snapshot of the current generation holds them (the speed layer folds them in
        when it builds its state); a snapshot left from an earlier run, or none, may not.
        """
        if self.speed is not None and self.speed.generation == self.generation:
            return 0
        covered = self.batch.covered() if self.batch else {}
        if self.speed is not None:
            in_speed = covered.setdefault(self.speed.generation, {})
            for partition, next_offset in self.speed.offsets.items():
                in_speed[partition] = max(in_speed.get(partition, 0), next_offset)
        return sum(
            f.end - start
            for f, start in self.lake.backlog(self.generation, covered)
            # a snapshot's own rebuild folded in the generations before its own
            if self.speed is None or f.generation >= self.speed.generation
        )

    def unread(self) -> int:
        """Offsets the speed view is past that nobody read: retention deleted them before
        the archiver got them. The answer lacks them, so the lag never reaches 0."""
        if self.speed is None or self.speed.generation != self.generation:
            return 0
        return sum(self.speed.missing.values())

    def speed_offsets(self) -> dict[int, int]:
        """Per partition of the current generation, the first offset the speed view lacks."""
        if self.speed is not None and self.speed.generation == self.generation:
            return self.speed.offsets
        return self.batch.next_offsets(self.generation) if self.batch else {}


def resolve(lake: Lake) -> Served:
    """Pair the current speed snapshot with its base batch version (or the newest batch)."""
    generation = lake.read_generation()
    pointer = lake.read_speed_pointer()
    if pointer is not None:
        batch = lake.read_version(pointer.base_version) if pointer.base_version else None
        if pointer.base_version and batch is None:
            # Collected between reading the pointer and the version: the caller retries.
            raise FileNotFoundError(lake.versions / pointer.base_version / "version.json")
    else:
        batch = lake.read_manifest()
    return Served(batch=batch, speed=pointer, generation=generation, lake=lake)


class LagProbe:
    """Counts the events on the topic that a speed snapshot does not reflect yet."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self._ends: EndOffsets | None = None
        # Request threads share the probe: one creates, reads or closes its consumer at a time.
        self._lock = threading.Lock()

    def ends(self) -> dict[int, int] | None:
        """The topic's end offsets, or None when the broker cannot be reached."""
        with self._lock:
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

    @staticmethod
    def lag(served: Served, ends: dict[int, int]) -> int:
        """Events on the topic (or archived from an earlier run) the served pair lacks."""
        reflected = served.speed_offsets()
        on_topic = sum(max(0, end - reflected.get(p, 0)) for p, end in ends.items())
        return on_topic + served.unreflected_archive() + served.unread()

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
    batch = served.batch
    speed = served.speed
    speed_age = None
    if speed is not None:
        speed_age = round((now_ms() - parse_rfc3339(speed.written_at)) / 1000, 3)
    return {
        "source": source,
        "batch": {
            "version": batch.version if batch else None,
            "events": batch.events if batch else 0,
            "computed_at": batch.computed_at if batch else None,
            "duration_s": batch.duration_s if batch else None,
        },
        "speed": {
            "events": speed.events if speed else 0,
            "lag": lag,
            "snapshot": speed.snapshot if speed else None,
            "written_at": speed.written_at if speed else None,
            "age_s": speed_age,
        },
    }
