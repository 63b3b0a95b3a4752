"""The batch job process behind ``batch_layer.worker.JobWorker``: it runs the run ids it reads
on stdin, one at a time, in one Spark session, and answers each run's exit code on the pipe
``--answers-fd`` names. It ends after a run that fails, or when its stdin closes."""

import logging
import os
import sys
from typing import TextIO

from batch_layer.job import lower_priority, run_recorded
from batch_layer.settings import BatchSettings
from batch_layer.spark_views import spark_session, stop_session
from common.errors import LakeError, LambdaError
from common.runtime.logs import setup_logging
from common.storage.batch_runs import RunStore
from common.storage.lake import Lake

log = logging.getLogger("batch")


def serve(settings: BatchSettings, lake: Lake, requests: TextIO, answers: TextIO) -> int:
    """Run each run id read from ``requests``, answering its exit code; stop at the end of the
    requests (0) or after the first run that fails (its code)."""
    for line in requests:
        code = run_one(settings, lake, line.strip())
        answers.write(f"{code}\n")
        answers.flush()
        if code != 0:
            return code
    return 0


def run_one(settings: BatchSettings, lake: Lake, run_id: str) -> int:
    """One recorded run in this process's Spark session.

    On a standalone cluster the session ends with each run, and only the driver's JVM stays
    warm: a session kept between runs would hold the cluster's cores and starve any other
    application (``make batch``'s) until the scheduler stops."""
    keep_session = settings.spark_master.startswith("local")
    try:
        record = RunStore(lake).get(run_id)
        if record is None:
            raise LakeError(f"no batch run record for {run_id!r}")
        version = run_recorded(settings, lake, record, keep_session)
    except LambdaError as exc:
        log.error("batch run failed: %s", exc)
        return 1
    log.info(
        "batch version %s published: %d events, %d views",
        version.version,
        version.events,
        len(version.views),
    )
    return 0


def warm(settings: BatchSettings) -> None:
    """Start the Spark session the runs will use, and run one small job in it, so the first
    run waits for neither (a JVM's start and first job take most of a small run). A session
    that cannot start is left to the first run, which then fails with the reason."""
    try:
        spark_session(settings).range(1).count()
    except Exception:  # reported by the run that needs the session
        log.warning("the batch worker could not warm its Spark session", exc_info=True)
        return
    log.info("the batch worker's Spark session is warm")


def main(argv: list[str] | None = None) -> int:
    setup_logging("batch")
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["--answers-fd"] or len(args) != 2:
        print("usage: python -m batch_layer.worker_process --answers-fd FD", file=sys.stderr)
        return 2
    try:
        settings = BatchSettings()
        lower_priority(settings.batch_nice)
        lake = Lake(settings.data_dir)
        lake.ensure()
    except LambdaError as exc:
        log.error("the batch worker cannot start: %s", exc)
        return 1
    try:
        if settings.spark_master.startswith("local"):
            warm(settings)
        with os.fdopen(int(args[1]), "w") as answers:
            return serve(settings, lake, sys.stdin, answers)
    finally:
        stop_session()


if __name__ == "__main__":
    sys.exit(main())
