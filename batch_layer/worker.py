"""The scheduler's handle on its batch job process (``batch_layer.worker_process``): one
Spark session, a warm JVM, for every scheduled run.

A fresh JVM costs every run its start and its warm-up: about a third of a run over 10 million
events. The scheduler therefore starts the process when it starts and sends it one run id
per line on its stdin; the process answers each with the run's exit code on a pipe of its own
(``--answers-fd``: Spark's JVM shares stdout). A run that fails ends the process, so the next
run starts with a fresh JVM and a failure leaves nothing behind. Started with the scheduler, it
warms its session before the first run (locally); ``make batch`` queues its run for the
scheduler (``runner.batch``). This module imports no Spark: the scheduler stays small.
"""

import contextlib
import os
import subprocess
import sys
from typing import BinaryIO

from common.runtime.processes import die_with_parent

STOP_SECONDS = 60
"""How long a worker told to stop may take to end its Spark session before it is killed."""


class JobWorker:
    """The scheduler's handle on the worker process: started with the scheduler (or for the
    first run), and again for the run after one that failed. Use it from the thread that
    lives as long as the scheduler (the worker dies with that thread, ``die_with_parent``)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._answers: BinaryIO | None = None

    @property
    def pid(self) -> int | None:
        """The worker process's pid while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the worker now rather than on the first run, so that run finds its Spark
        session warm (``batch_layer.worker_process`` warms it at start)."""
        self._started()

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
                [sys.executable, "-m", "batch_layer.worker_process", "--answers-fd", str(writable)],
                stdin=subprocess.PIPE,
                pass_fds=(writable,),
                env=self._env,
                preexec_fn=die_with_parent(),  # noqa: PLW1509 (one prctl call, no locks taken)
            )
        except BaseException:
            os.close(readable)
            raise
        finally:
            os.close(writable)
        self._answers = os.fdopen(readable, "rb")
        return self._process, self._answers
