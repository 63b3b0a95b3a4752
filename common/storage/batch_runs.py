"""The history of batch runs, and run requests: one record per run in ``batch/runs/<id>.json``.

Whoever starts a run writes its record (the scheduler for its triggers, the serving layer's
``POST /batch/runs`` as a *queued* request, ``make batch`` for itself), and the job ends it
(succeeded or failed, with its version or its error). Every write is an atomic rename, and the
check-then-write of a new run holds ``batch/runs/.lock``, so two requests never both queue.
"""

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from common.errors import DamagedFile, LambdaError
from common.model.timeutil import utc_now_text, utc_text
from common.storage.lake import Lake, next_after, write_atomic
from common.storage.lake_files import FORMAT_VERSION, JsonFormat
from common.storage.locks import exclusive
from common.storage.quarantine import coverage

log = logging.getLogger("batch")
Trigger = Literal["interval", "size", "request", "views-changed", "startup-backlog", "manual"]
State = Literal["queued", "running", "succeeded", "failed"]
ACTIVE: tuple[State, ...] = ("queued", "running")
FINISHED: tuple[State, ...] = ("succeeded", "failed")
KEEP_RECORDS = 50
ID_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyzTZ-")


class RunBusy(LambdaError):
    """A run is queued or running already; ``run_id`` names it."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"batch run {run_id} is queued or running")
        self.run_id = run_id


@dataclass(frozen=True)
class RunRecord:
    """One batch run: why it started, where it is, and what it published or why it failed."""

    id: str
    trigger: Trigger
    state: State
    requested_at: str
    started_at: str | None = None
    duration_s: float | None = None
    events: int | None = None
    version: str | None = None
    error: str | None = None
    format_version: int = field(default=FORMAT_VERSION, kw_only=True, compare=False)
    """The format of the record's file; records written before formats were versioned have
    none (1). Not part of what ``GET /batch/runs`` answers."""

    def to_json(self) -> dict[str, Any]:
        """The run as ``GET /batch/runs`` answers it (the file's fields, but its version)."""
        found: dict[str, Any] = RUN_FILE.to_json(self)
        del found["format_version"]
        return found

    @classmethod
    def from_json(cls, raw: Any) -> "RunRecord":
        """A run from its parsed file; pydantic's ``ValidationError`` (a ``ValueError``)
        when it is not one."""
        return RUN_FILE.decode(raw)

    def started(self) -> "RunRecord":
        return replace(self, state="running", started_at=utc_now_text())

    def succeeded(self, version: str, events: int, duration_s: float) -> "RunRecord":
        return replace(
            self, state="succeeded", version=version, events=events, duration_s=duration_s
        )

    def failed(self, error: str, duration_s: float | None = None) -> "RunRecord":
        return replace(self, state="failed", error=error, duration_s=duration_s)


RUN_FILE = JsonFormat(RunRecord)
"""``batch/runs/<id>.json``: a ``RunRecord`` (every field, those not reached yet null)."""
ID_TIME = "%Y%m%dT%H%M%S%fZ"


def new_run_id(now: datetime, newest: str | None = None) -> str:
    """A unique id that sorts by creation: ``20261126T001500123456Z-3f9a``, from the time
    ``now``, or a microsecond after the ``newest`` id so far when that is not earlier (the
    clock stepped back, or two runs in one microsecond). Ids are an order, not a clock: the
    record's ``requested_at`` says when."""
    moment = now.astimezone(UTC).replace(tzinfo=None)
    previous = _id_time(newest) if newest else None
    if previous is not None and moment <= previous:
        moment = previous + timedelta(microseconds=1)
    return f"{moment:{ID_TIME}}-{secrets.token_hex(2)}"


def _id_time(run_id: str) -> datetime | None:
    try:
        return datetime.strptime(run_id.partition("-")[0], ID_TIME)
    except ValueError:
        return None


def utc_now() -> datetime:
    """The wall clock (a store's default clock)."""
    return datetime.now(UTC)


class RunStore:
    """The run records of one data directory."""

    def __init__(self, lake: Lake, clock: Callable[[], datetime] = utc_now) -> None:
        self.dir = lake.batch / "runs"
        self.clock = clock

    def path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def newest_id(self) -> str | None:
        """The id that sorts last among the records (the next id sorts after it)."""
        names = sorted(self.dir.glob("*.json"), reverse=True) if self.dir.is_dir() else []
        return next((p.stem for p in names if _id_time(p.stem) is not None), None)

    def write(self, record: RunRecord) -> None:
        write_atomic(self.path(record.id), RUN_FILE.encode(record, indent=2))

    def get(self, run_id: str) -> RunRecord | None:
        """The run of that id; None for an unknown id (or one that is not an id at all)."""
        if not run_id or not set(run_id) <= ID_CHARS:
            return None
        return self._read(self.path(run_id))

    def recent(self, limit: int = KEEP_RECORDS) -> list[RunRecord]:
        """The newest runs first."""
        paths = sorted(self.dir.glob("*.json"), reverse=True) if self.dir.is_dir() else []
        records = (self._read(path) for path in paths[:limit])
        return [record for record in records if record is not None]

    def active(self) -> RunRecord | None:
        """The oldest run queued or running, if any."""
        active = [r for r in self.recent() if r.state in ACTIVE]
        return active[-1] if active else None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the lock under which a new run is checked for and recorded."""
        with exclusive(self.dir / ".lock", "batch run bookkeeping", wait=True):
            yield

    def begin(self, trigger: Trigger, state: State = "running", alone: bool = True) -> RunRecord:
        """Record a new run; with ``alone``, only if none is queued or running (else RunBusy
        with its id). ``make batch`` records itself regardless: its job waits for the lock."""
        with self.locked():
            active = self.active()
            if alone and active is not None:
                raise RunBusy(active.id)
            now = self.clock()
            run_id = new_run_id(now, self.newest_id())
            record = RunRecord(run_id, trigger, "queued", utc_text(now))
            record = record.started() if state == "running" else record
            self.write(record)
        self.prune()
        return record

    def claim_queued(self) -> RunRecord | None:
        """Mark the oldest queued run running and return it; None when nothing is queued."""
        with self.locked():
            active = self.active()
            if active is None or active.state != "queued":
                return None
            record = active.started()
            self.write(record)
            return record

    def prune(self, keep: int = KEEP_RECORDS) -> None:
        """Delete the records of finished runs beyond the newest ``keep``."""
        paths = sorted(self.dir.glob("*.json"), reverse=True) if self.dir.is_dir() else []
        for path in paths[keep:]:
            record = self._read(path)
            if record is None or record.state not in ACTIVE:
                path.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> RunRecord | None:
        """One record; None when it is missing, or cannot be read (skipped, with a
        warning: a run record is history, and the runs go on without it)."""
        try:
            return RUN_FILE.read_or_none(path)
        except DamagedFile as exc:
            log.warning("batch run record skipped: %s", exc)
            return None


def uncovered_events(lake: Lake) -> int:
    """Archived offsets (every generation) that a batch run could cover and the newest
    version does not: those in each partition's unbroken chain of files beyond its coverage.
    A gap in the chain stops a batch too, so offsets after it are not counted."""
    manifest = lake.read_manifest()
    covered = manifest.covered() if manifest else {}
    _, chains = coverage(lake, lake.master_files())
    return sum(
        max(0, end - covered.get(generation, {}).get(partition, 0))
        for generation, parts in chains.items()
        for partition, end in next_after(parts).items()
    )
