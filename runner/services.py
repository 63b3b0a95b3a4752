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

log = logging.getLogger("runner")

STOP_TIMEOUT_S = 15.0


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
        environment = {**os.environ, **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], env=environment, start_new_session=True
        )
        self.started_at = time.monotonic()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{self.process.pid}\n")

    def exit_code(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """SIGTERM the process group, wait, then SIGKILL what is left."""
        if self.process is None or self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0fs; killing it", self.name, STOP_TIMEOUT_S)
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.pid_file.unlink(missing_ok=True)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


class Supervisor:
    """Keeps services alive: a service that exits unexpectedly is restarted within seconds."""

    def __init__(self, services: list[Service], restart_delay_s: float) -> None:
        self.services = services
        self.restart_delay_s = restart_delay_s
        self._due: dict[str, float] = {}

    def start_all(self) -> None:
        for service in self.services:
            service.start()
            log.info(
                "started %s (pid %d)", service.name, service.process.pid if service.process else -1
            )

    def check(self) -> None:
        """Restart every service that has exited, after the restart delay."""
        now = time.monotonic()
        for service in self.services:
            code = service.exit_code()
            if code is None:
                continue
            if service.name not in self._due:
                # A service that dies right after starting waits a little longer, up to 4 s.
                quick = now - service.started_at < 5
                delay = min(self.restart_delay_s * (2 if quick else 1), 4.0)
                self._due[service.name] = now + delay
                log.warning(
                    "%s exited unexpectedly with code %d; restarting in %.1fs",
                    service.name,
                    code,
                    delay,
                )
            elif now >= self._due[service.name]:
                del self._due[service.name]
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
