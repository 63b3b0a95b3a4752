"""The monitor: once a second it observes the pipeline (every service's beacon, the topic's
end offsets, how far the archive, the speed views and the batch views are), computes the
``GET /status`` answer and publishes it as ``status/status.json``; warnings that appear or
clear are logged as JSON lines (``alerts`` logger).

One monitor per data directory: of the serving layer's worker processes, the one holding
``status/monitor.lock`` observes (another takes over within a second when it dies); every
worker answers ``GET /status`` from the published file.
"""

import json
import logging
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from common.errors import DamagedFile, LakeError
from common.monitoring.beacons import prune_beacons, read_beacons
from common.runtime.timers import Every
from common.storage.batch_runs import RunStore
from common.storage.lake import Lake, write_atomic
from common.storage.lake_files import read_json
from common.storage.locks import try_lock
from common.storage.quarantine import losses_status
from common.storage.speed_store import read_members
from serving_layer.lag_probe import LagProbe
from serving_layer.pairing import resolve
from serving_layer.rejected import RejectedIndex
from serving_layer.status import (
    RECENT_S,
    WINDOW_S,
    Counts,
    Observation,
    build_status,
    counts,
)

log = logging.getLogger("serving")
OBSERVE_SECONDS = 1.0
PRUNE_AFTER_S = 86_400.0
"""Beacons of processes gone this long are deleted (a day of "down" history is plenty)."""
PRUNE_EVERY_S = 60.0


def status_path(lake: Lake) -> Path:
    return lake.root / "status" / "status.json"


def read_status(lake: Lake) -> dict[str, Any] | None:
    """The newest published status, or None before the first."""
    try:
        return read_json(status_path(lake))
    except (OSError, DamagedFile):
        return None


def alerts_logger() -> logging.Logger:
    """A logger whose lines are JSON objects: what log shippers and alerting read."""
    logger = logging.getLogger("alerts")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)
    return logger


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's ``alert``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "alert", {}),
        }
        return json.dumps(line)


class Monitor:
    """Observes the pipeline once a second while it holds the monitor lock."""

    def __init__(self, lake: Lake, probe: LagProbe) -> None:
        self.lake = lake
        self.probe = probe
        self.history: deque[Observation] = deque(maxlen=int(WINDOW_S / OBSERVE_SECONDS) + 3)
        self.recent: deque[Counts] = deque()  # the last RECENT_S seconds
        self.active: dict[tuple, dict[str, Any]] = {}
        self.rejected = RejectedIndex()
        self.prune = Every(PRUNE_EVERY_S)
        self.alerts = alerts_logger()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._lock_fd: int | None = None

    def start(self) -> "Monitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _loop(self) -> None:
        failing: str | None = None
        while not self._stop.wait(OBSERVE_SECONDS):
            try:
                if self._lock_fd is None:
                    lock = self.lake.root / "status" / "monitor.lock"
                    lock.parent.mkdir(parents=True, exist_ok=True)
                    self._lock_fd = try_lock(lock)
                    if self._lock_fd is None:
                        continue
                self.tick()
                if failing is not None:
                    log.info("the monitor observes the pipeline again")
                failing = None
            except Exception as exc:  # the monitor outlives any bad observation ...
                if repr(exc) != failing:  # ... and says so once, not every second
                    log.exception("the monitor could not observe the pipeline")
                failing = repr(exc)

    def tick(self) -> dict[str, Any]:
        """Observe once, publish the status, log warnings that appeared or cleared."""
        if self.prune.due():
            prune_beacons(self.lake, PRUNE_AFTER_S)
        observation = self.observe()
        self.history.append(observation)
        self.recent.append(counts(observation))
        while self.recent[0].at < observation.at - RECENT_S:
            self.recent.popleft()
        status = build_status(list(self.history), list(self.recent))
        self._track(status["warnings"], status["generated_at"])
        write_atomic(status_path(self.lake), json.dumps(status).encode(), durable=False)
        return status

    def observe(self) -> Observation:
        began = time.monotonic()
        ends = self.probe.ends()
        ends_ms = (time.monotonic() - began) * 1000 if ends is not None else None
        beacons = {b.key: b for b in read_beacons(self.lake)}
        runs = tuple(RunStore(self.lake).recent(20))
        at = time.time()
        try:
            served = resolve(self.lake)
        except (LakeError, FileNotFoundError):
            return Observation(at, beacons, ends, ends_ms, runs=runs)
        files = self.lake.master_files()  # listed once: there can be many
        archived = self.lake.archived_ends(served.generation, files)
        unreflected = served.unreflected_archive(files)
        behind = None if ends is None else served.behind(ends)
        newest = served.newest
        covered = newest.next_offsets(served.generation) if newest else {}
        return Observation(
            at=at,
            beacons=beacons,
            ends=ends,
            ends_ms=ends_ms,
            # what Served.lag adds up, its parts computed once
            speed_lag=None if behind is None else behind + unreflected + served.unread(),
            speed_behind=behind,
            speed_offsets=sum(p.next_offset for p in served.slices.values()),
            archive_lag=None
            if ends is None
            else sum(max(0, end - archived.get(p, 0)) for p, end in ends.items()),
            archived=sum(archived.values()),
            batch_lag=sum(max(0, end - covered.get(p, 0)) for p, end in archived.items())
            + unreflected,
            batch_version=newest.version if newest else None,
            batch_computed_at=newest.computed_at if newest else None,
            batch_events=newest.events if newest else 0,
            runs=runs,
            members=tuple(read_members(self.lake)),
            rejected=self.rejected.summary(files),
            damaged=losses_status(self.lake, files),
        )

    def _track(self, found: list[dict[str, Any]], at: str) -> None:
        """Date each warning from when it first appeared; log those that appeared (at
        WARNING or ERROR) and those that cleared (at INFO)."""
        now = {(w["code"], w["stage"], w["instance"]): w for w in found}
        for key, warning in now.items():
            earlier = self.active.get(key)
            warning["since"] = earlier["since"] if earlier else at
            if earlier is None:
                level = logging.ERROR if warning["severity"] == "error" else logging.WARNING
                self.alerts.log(
                    level, warning["message"], extra={"alert": {**warning, "state": "firing"}}
                )
        for key, warning in self.active.items():
            if key not in now:
                self.alerts.info(
                    f"resolved: {warning['message']}",
                    extra={"alert": {**warning, "state": "resolved"}},
                )
        self.active = now
