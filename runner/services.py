"""Supervised child processes: started, watched, restarted when they die, stopped in order."""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import ProcessError
from runner.processes import spawn

log = logging.getLogger("runner")

STOP_TIMEOUT_S = 15.0
QUICK_EXIT_S = 5.0  # a service that exits this soon after its start failed to start
MAX_QUICK_FAILURES = 3  # ... this many times in a row: it is given up


@dataclass
class Service:
    """One long-running process of the pipeline."""

    name: str
    module: str
    pid_file: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Start the process, dying with this one: call it from the main thread."""
        self.process = spawn(
            [sys.executable, "-m", self.module], self.pid_file.parent, {**os.environ, **self.env}
        )
        self.started_at = time.monotonic()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{self.process.pid}\n")

    def exit_code(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """SIGTERM the process group, wait, then SIGKILL what is left."""
        if self.process is None:
            return
        if self.process.poll() is None:
            _stop_group(self.name, self.process)
        self.pid_file.unlink(missing_ok=True)


def _stop_group(name: str, process: subprocess.Popen[bytes]) -> None:
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0fs; killing it", name, STOP_TIMEOUT_S)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


class ServiceGaveUp(ProcessError):
    """A service failed at start too often in a row to be restarted again."""

    def __init__(self, service: str, exit_code: int, failures: int, quick_exit_s: float) -> None:
        super().__init__(
            f"{service} exited with exit code {exit_code} within {quick_exit_s:g}s of its start "
            f"{failures} times in a row: not restarting it"
        )
        self.service = service
        self.exit_code = exit_code


class Supervisor:
    """Keeps services alive: a service that exits unexpectedly is restarted within seconds.

    Except a service that cannot start: one that exits with a non-zero code within
    ``quick_exit_s`` of its start ``MAX_QUICK_FAILURES`` (3) times in a row is given up, and
    ``check`` raises ``ServiceGaveUp``. Such a service fails before doing any work, for a
    reason a restart does not change: a setting only it checks (exit code 2), a port someone
    else holds, a broken install. Restarting it forever hides that cause in a scrolling log
    while the pipeline looks up. Three in a row rather than one, so that a one-off failure at
    start (the broker briefly unreachable) is still retried; a service that ran longer than
    ``quick_exit_s`` has shown it can start, so its next failure starts the count again; and a
    death by a signal (kill -9, the OOM killer) comes from outside and never counts.
    """

    def __init__(
        self, services: list[Service], restart_delay_s: float, quick_exit_s: float = QUICK_EXIT_S
    ) -> None:
        self.services = services
        self.restart_delay_s = restart_delay_s
        self.quick_exit_s = quick_exit_s
        self._due: dict[str, float] = {}
        self._quick_failures: dict[str, int] = {}

    def start_all(self) -> None:
        self._quick_failures.clear()
        for service in self.services:
            service.start()
            log.info(
                "started %s (pid %d)", service.name, service.process.pid if service.process else -1
            )

    def check(self) -> None:
        """Restart every service that has exited, after the restart delay.

        Raises ServiceGaveUp for a service that keeps failing at start (see the class).
        """
        now = time.monotonic()
        for service in self.services:
            code = service.exit_code()
            if code is None:
                continue
            if service.name not in self._due:
                self._schedule_restart(service, code, now)
            elif now >= self._due[service.name]:
                del self._due[service.name]
                self._restart(service)

    def _schedule_restart(self, service: Service, code: int, now: float) -> None:
        quick = now - service.started_at < self.quick_exit_s
        failures = self._quick_failures.get(service.name, 0) + 1 if quick and code > 0 else 0
        self._quick_failures[service.name] = failures
        if failures >= MAX_QUICK_FAILURES:
            service.pid_file.unlink(missing_ok=True)
            raise ServiceGaveUp(service.name, code, failures, self.quick_exit_s)
        # A service that dies right after starting waits a little longer, up to 4 s.
        delay = min(self.restart_delay_s * (2 if quick else 1), 4.0)
        self._due[service.name] = now + delay
        log.warning(
            "%s exited unexpectedly with code %d; restarting in %.1fs", service.name, code, delay
        )

    def _restart(self, service: Service) -> None:
        service.restarts += 1
        service.start()
        log.warning(
            "restarted %s (pid %d, restart #%d)",
            service.name,
            service.process.pid if service.process else -1,
            service.restarts,
        )

    def stop_all(self) -> None:
        self._due.clear()
        for service in self.services:
            if service.process is not None:
                service.stop()
                log.info("stopped %s", service.name)
