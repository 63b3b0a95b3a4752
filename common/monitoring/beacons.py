"""Beacons: every service process says, once a second, that it is alive and what its metrics
are, in a file of the shared data directory (``status/beacons/<stage>--<instance>.json``).

The monitor (``common.monitoring.observer``) reads them to build ``GET /status``: no list of
addresses to configure, replicas found as they come, and the same under `make run` as in
Compose (one data volume). The numbers are the service's own Prometheus metrics
(``lambda_*``), so ``/status`` and a Prometheus server see the same counters. A beacon that
stops being rewritten is a process that died; a clean stop says so (``stopped``). This
module owns the format: the :class:`Beacon` model, with its ``format_version``.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from common.errors import DamagedFile
from common.monitoring.prometheus import BUSY, samples
from common.storage.lake import Lake, write_atomic
from common.storage.lake_files import read_json

log = logging.getLogger("beacons")

BEACON_SECONDS = 1.0
BEACON_FORMAT = 1
"""The beacon files' format version (``format_version``); a file without one is of version 1."""


class Beacon(BaseModel):
    """One process's last word: who it is, since when, and its metrics' samples. Fields a
    newer writer adds are ignored; JSON of the wrong shape is a damaged file."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format_version: int = BEACON_FORMAT
    stage: str
    instance: str
    host: str
    pid: int
    started_at: float  # Unix time
    updated_at: float
    starts: int = 1  # how many times this instance has started
    restarted: bool = False  # this start followed a process that did not stop cleanly
    stopped: bool = False
    processes: int = 1  # worker processes whose metrics the samples add up
    samples: dict[str, float] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.stage}--{self.instance}"

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump())

    @classmethod
    def from_json(cls, data: Any) -> "Beacon":
        """A beacon from its file's JSON (``ValidationError``, a ``ValueError``, when it is
        not one: ``read_json`` makes that a ``DamagedFile``)."""
        return cls.model_validate(data)


def beacons_dir(lake: Lake) -> Path:
    return lake.root / "status" / "beacons"


def read_beacons(lake: Lake) -> list[Beacon]:
    """Every beacon on disk (unreadable ones, caught mid-rename by a crash, are skipped)."""
    found: list[Beacon] = []
    directory = beacons_dir(lake)
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            found.append(read_json(path, Beacon.from_json))
        except (OSError, DamagedFile):
            continue
    return found


def prune_beacons(lake: Lake, older_than_s: float) -> int:
    """Delete the beacons not rewritten for ``older_than_s`` (processes long gone: replaced
    containers, earlier runs); how many."""
    removed = 0
    cutoff = time.time() - older_than_s
    directory = beacons_dir(lake)
    for path in directory.glob("*.json") if directory.is_dir() else []:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def instance_name() -> str:
    """This process's instance: ``LAMBDA_INSTANCE`` (what `make run` names it: ``speed-2``),
    else the host name in a container (Compose's replicas each have one, kept across
    restarts), else host and pid."""
    named = os.environ.get("LAMBDA_INSTANCE")
    if named:
        return named
    host = socket.gethostname()
    return host if Path("/.dockerenv").exists() else f"{host}-{os.getpid()}"


class BeaconWriter:
    """Rewrites this process's beacon every second from a thread of its own."""

    def __init__(
        self,
        lake: Lake,
        stage: str,
        instance: str | None = None,
        processes: Callable[[], int] = lambda: 1,
        interval_s: float = BEACON_SECONDS,
    ) -> None:
        self.path = beacons_dir(lake) / f"{stage}--{instance or instance_name()}.json"
        self.processes = processes
        self.interval_s = interval_s
        now = time.time()
        previous = self._previous()
        self.beacon = Beacon(
            stage=stage,
            instance=instance or instance_name(),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=now,
            updated_at=now,
            starts=previous.starts + 1 if previous else 1,
            restarted=previous is not None and not previous.stopped,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="beacon", daemon=True)

    def _previous(self) -> Beacon | None:
        try:
            return read_json(self.path, Beacon.from_json)
        except (OSError, DamagedFile):
            return None

    def start(self) -> "BeaconWriter":
        self.write()
        self._thread.start()
        return self

    def write(self, stopped: bool = False) -> None:
        BUSY.flush()
        self.beacon = self.beacon.model_copy(
            update={
                "updated_at": time.time(),
                "stopped": stopped,
                "processes": self.processes(),
                "samples": samples(),
            }
        )
        try:
            write_atomic(self.path, self.beacon.to_json(), durable=False)
        except OSError as exc:  # the monitor then sees this process as down: say why here
            log.warning("cannot write the beacon %s: %s", self.path, exc)

    def _loop(self) -> None:
        failing = False
        while not self._stop.wait(self.interval_s):
            try:
                self.write()
                failing = False
            except Exception:  # the beacon must outlive one bad sample; said once, not every second
                if not failing:
                    log.exception("cannot sample this process's metrics for its beacon")
                failing = True

    def stop(self) -> None:
        """A last beacon that says the process stopped on purpose."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.write(stopped=True)
