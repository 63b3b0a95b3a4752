"""Runs a batch every LAMBDA_BATCH_INTERVAL seconds, each in its own process (a fresh JVM)."""

import logging
import subprocess
import sys
import threading
import time

from batch_layer.settings import BatchSettings
from common.lake import Lake
from common.lifecycle import run_service, stop_event_on_signals
from common.processes import die_with_parent

log = logging.getLogger("scheduler")


def run_once() -> bool:
    """Run one batch in a child process; True on success."""
    started = time.monotonic()
    result = subprocess.run(  # the job dies with the scheduler (no Spark left running)
        [sys.executable, "-m", "batch_layer.job"],
        check=False,
        preexec_fn=die_with_parent(),
    )
    if result.returncode == 0:
        log.info("scheduled batch finished in %.1fs", time.monotonic() - started)
        return True
    log.error("scheduled batch failed with exit code %d", result.returncode)
    return False


def uncovered_earlier_generations(lake: Lake) -> bool:
    """Whether archived events of an earlier topic generation are in no batch version yet."""
    manifest = lake.read_manifest()
    return bool(lake.backlog(lake.read_generation(), manifest.offsets if manifest else {}))


def run_schedule(interval: float, lake: Lake, stop: threading.Event) -> None:
    """Every ``interval`` seconds, run a batch; an interval of 0 schedules nothing.

    With a schedule, a batch also runs at once when a previous run left archived events that
    no batch covers, so the speed layer does not carry them for a whole interval.
    """
    if interval <= 0:
        log.info("batch schedule is off (LAMBDA_BATCH_INTERVAL=0); `make batch` runs one")
        stop.wait()
        return
    log.info("a batch runs every %.0fs", interval)
    if uncovered_earlier_generations(lake):
        log.info("events archived by an earlier run are in no batch yet: running one now")
        run_once()
    while not stop.wait(interval):
        run_once()


def schedule() -> None:
    settings = BatchSettings()
    run_schedule(settings.batch_interval, Lake(settings.data_dir), stop_event_on_signals())


def main() -> int:
    return run_service("scheduler", schedule)


if __name__ == "__main__":
    sys.exit(main())
