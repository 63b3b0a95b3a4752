"""Where requests are checked: a small body on a thread, a large one in a worker process.

Checking is pure CPU work. On a thread of the service's own process it still competes for
the interpreter lock with the event loop: a large body full of problems (5 MiB of them takes
about a second) held ``GET /health`` back by more than a second on a loaded machine. In a
worker process it cannot; a small body is not worth the trip.
"""

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from fastapi.concurrency import run_in_threadpool

from common.errors import LambdaError
from common.runtime.processes import exit_with_parent
from ingest.checking import Checked, check_request

INLINE_BYTES = 256 * 1024
"""Bodies up to this size are checked on a thread (a few tens of milliseconds at most)."""


class CheckerGone(LambdaError):
    """A worker process died while checking a request (503; the pool is started anew)."""


class CheckPool:
    """Checks requests, the large ones in ``processes`` worker processes of their own."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # Spawned, not forked: the service runs threads (the producer's among them).
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(self.processes, mp_context=context, initializer=exit_with_parent)
        pool.submit(_ready)  # a worker starts now, not when the first large request comes
        return pool

    async def check(
        self,
        body: bytes,
        content_type: str,
        numeric_fields: dict[str, set[str]],
        max_events: int,
        received_ms: int,
    ) -> Checked:
        """``check_request`` off the event loop: Checked, or Refused."""
        work = partial(check_request, body, content_type, numeric_fields, max_events, received_ms)
        if len(body) <= INLINE_BYTES:
            return await run_in_threadpool(work)
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, work)
        except BrokenProcessPool as exc:
            self._replace(pool)
            raise CheckerGone(f"the process checking the request died: {exc}") from exc

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A new pool for ``broken``, once however many requests it failed (they all run on
        the event loop's thread, so no lock is needed); the broken one is shut down."""
        if self._pool is broken:
            self._pool = self._start()
            broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def _ready() -> None:
    """Nothing: a worker that ran it has imported what checking a request needs."""
