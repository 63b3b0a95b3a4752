"""The batch job as a long-lived process: one Spark session, a warm JVM, for every scheduled run.

A fresh JVM costs every run its start and its warm-up: about a third of a run over 10 million
events. The scheduler therefore starts this process on its first run and sends it one run id
per line on its stdin; the process answers each with the run's exit code on a pipe of its own
(``--answers-fd``: Spark's JVM shares stdout). A run that fails ends the process, so the next
run starts with a fresh JVM and a failure leaves nothing behind. ``make batch`` still runs
``batch_layer.job``, a fresh JVM of its own.
"""

import contextlib
import logging
import os
import subprocess
import sys
from typing import BinaryIO, TextIO

from batch_layer.job import lower_priority, run_recorded
from batch_layer.settings import BatchSettings
from batch_layer.spark_views import stop_session
from common.batch_runs import RunStore
from common.errors import LakeError, LambdaError
from common.lake import Lake
from common.logs import setup_logging
from common.processes import die_with_parent

log = logging.getLogger("batch")

STOP_SECONDS = 60
"""How long a worker told to stop may take to end its Spark session before it is killed."""


class JobWorker:
    """The scheduler's handle on the worker process: started for the first run, and again
    for the run after one that failed. Use it from the thread that lives as long as the
    scheduler (the worker dies with that thread, ``die_with_parent``)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._answers: BinaryIO | None = None

    @property
    def pid(self) -> int | None:
        """The worker process's pid while it runs."""
        return self._process.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def run(self, run_id: str) -> int:
        """Run the recorded batch ``run_id``; the exit code of the run: 0 when it succeeded."""
        process, answers = self._started()
        assert process.stdin is not None
        try:
            process.stdin.write(f"{run_id}\n".encode())
            process.stdin.flush()
            answer = answers.readline().strip()
        except OSError:  # the worker died before it read the request
            answer = b""
        if answer == b"0":
            return 0
        self.close()  # after a failure the worker ends itself; or it died
        return process.returncode or 1

    def close(self) -> None:
        """End the worker: its stdin closes, it stops its Spark session and exits."""
        process, answers = self._process, self._answers
        self._process = self._answers = None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if answers is not None:
            answers.close()

    def _started(self) -> tuple[subprocess.Popen[bytes], BinaryIO]:
        if self.running and self._process is not None and self._answers is not None:
            return self._process, self._answers
        self.close()  # a worker that died between runs
        readable, writable = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "batch_layer.worker", "--answers-fd", str(writable)],
                stdin=subprocess.PIPE,
                pass_fds=(writable,),
                env=self._env,
                preexec_fn=die_with_parent(),  # noqa: PLW1509 (one prctl call, no locks taken)
            )
        finally:
            os.close(writable)
        self._answers = os.fdopen(readable, "rb")
        return self._process, self._answers


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


def main(argv: list[str] | None = None) -> int:
    setup_logging("batch")
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["--answers-fd"] or len(args) != 2:
        print("usage: python -m batch_layer.worker --answers-fd FD", file=sys.stderr)
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
        with os.fdopen(int(args[1]), "w") as answers:
            return serve(settings, lake, sys.stdin, answers)
    finally:
        stop_session()


if __name__ == "__main__":
    sys.exit(main())
