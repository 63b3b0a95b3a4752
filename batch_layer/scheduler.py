"""Runs a batch every LAMBDA_BATCH_INTERVAL seconds, each in its own process (a fresh JVM)."""

import logging
import subprocess
import sys
import threading
import time

from batch_layer.settings import BatchSettings
from common.lifecycle import run_service, stop_event_on_signals

log = logging.getLogger("scheduler")


def run_once() -> bool:
    """Run one batch in a child process; True on success."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "batch_layer.job"], check=False)
    if result.returncode == 0:
        log.info("scheduled batch finished in %.1fs", time.monotonic() - started)
        return True
    log.error("scheduled batch failed with exit code %d", result.returncode)
    return False


def run_schedule(interval: float, stop: threading.Event) -> None:
    """Every ``interval`` seconds, run a batch; an interval of 0 schedules nothing."""
    if interval <= 0:
        log.info("batch schedule is off (LAMBDA_BATCH_INTERVAL=0); `make batch` runs one")
        stop.wait()
        return
    log.info("a batch runs every %.0fs", interval)
    while not stop.wait(interval):
        run_once()


def main() -> int:
    return run_service(
        "scheduler", lambda: run_schedule(BatchSettings().batch_interval, stop_event_on_signals())
    )


if __name__ == "__main__":
    sys.exit(main())
