"""`make batch`: one batch run now, by the running pipeline's scheduler, whose worker keeps a
warm Spark session. The run is queued in the data directory, as ``POST /batch/runs`` queues
one (so it needs no API key and no port: the command runs beside the data, on the host under
`make run`, in the scheduler's container under Compose), and its record is followed until it
ends.

A run already queued or running is waited for, and then one is queued again: a run's
snapshot of the archive is taken when it starts, so only a run that starts after the command
does covers every event accepted before it. With no scheduler alive (no fresh beacon), the run
happens here instead, in a Spark session of its own (``batch_layer.job``)."""

import sys
import time
from collections.abc import Callable

from pydantic import Field

from batch_layer import job
from common.errors import LambdaError
from common.monitoring.beacons import read_beacons
from common.monitoring.stages import STAGE_OF_SERVICE
from common.monitoring.status import is_up
from common.runtime.logs import setup_logging
from common.runtime.settings import CommonSettings
from common.storage.batch_runs import RunBusy, RunRecord, RunStore
from common.storage.lake import Lake

POLL_SECONDS = 0.5
PROGRESS_SECONDS = 10.0
"""How often a waiting `make batch` says what the run is doing."""
ENDED = ("succeeded", "failed")


class BatchRequestSettings(CommonSettings):
    """What `make batch` reads (prefix ``LAMBDA_``)."""

    batch_wait_s: float = Field(
        default=3600,
        gt=0,
        description="how long `make batch` waits for its run to end before it gives up",
    )


class RunFailed(LambdaError):
    """The run could not be followed to its end in time."""


def scheduler_alive(lake: Lake, now: float | None = None) -> bool:
    """Whether a batch scheduler's beacon is fresh: one will take a queued run."""
    at = time.time() if now is None else now
    stage = STAGE_OF_SERVICE["scheduler"]
    return any(b.stage == stage and is_up(b, at) for b in read_beacons(lake))


class Requester:
    """Queues runs for the scheduler and follows them to their end."""

    def __init__(
        self,
        runs: RunStore,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runs = runs
        self._say = say
        self._clock = clock

    def run(self, deadline: float) -> RunRecord:
        """A run that starts after this call, followed until it ends; its record."""
        while True:
            try:
                record = self._runs.begin("manual", state="queued")
            except RunBusy as busy:
                self._say(f"batch run {busy.run_id} is queued or running: waiting for it first")
                self.follow(busy.run_id, deadline)
                continue
            self._say(f"batch run {record.id} queued for the scheduler")
            return self.follow(record.id, deadline)

    def follow(self, run_id: str, deadline: float) -> RunRecord:
        """Poll run ``run_id`` until it ends; its last record."""
        said = self._clock()
        while True:
            record = self._runs.get(run_id)
            if record is None:
                raise RunFailed(f"batch run {run_id}'s record is gone (or cannot be read)")
            if record.state in ENDED:
                return record
            now = self._clock()
            if now > deadline:
                raise RunFailed(f"batch run {run_id} still {record.state} at the deadline")
            if now - said >= PROGRESS_SECONDS:
                said = now
                hint = " (is the batch scheduler running?)" if record.state == "queued" else ""
                self._say(f"batch run {run_id} {record.state}{hint}")
            time.sleep(POLL_SECONDS)  # the poll's pace: the record is the condition


def describe(record: RunRecord) -> str:
    """The line `make batch` prints for a published run (as ``batch_layer.job`` does)."""
    return (
        f"batch version {record.version} published: {record.events} events, "
        f"run {record.id}, {record.duration_s or 0:.1f}s"
    )


def main() -> int:
    setup_logging("batch")
    settings = BatchRequestSettings()
    lake = Lake(settings.data_dir)
    if not scheduler_alive(lake):
        print(
            "no batch scheduler is running here: running the batch in this process", file=sys.stderr
        )
        return job.main()

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        record = Requester(RunStore(lake), say).run(time.monotonic() + settings.batch_wait_s)
    except LambdaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if record.state != "succeeded":
        print(f"error: batch run {record.id} failed: {record.error}", file=sys.stderr)
        return 1
    print(describe(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
