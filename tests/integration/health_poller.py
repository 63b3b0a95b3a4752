"""Polls a /health in a thread of its own while a test does something heavy, and keeps how
long each answer took: "GET /health answers within 1 s" is a bound of the contract."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

HEALTH_BOUND_S = 1.0


class HealthPoller:
    """The answers (status, seconds) of a /health polled back to back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[int | None, float]] = []
        self._stop = threading.Event()
        self.asking = threading.Event()  # set as the first request goes out
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                self.asking.set()
                started = time.monotonic()
                try:
                    status: int | None = client.get(self.url).status_code
                except httpx.HTTPError:
                    status = None
                self.answers.append((status, time.monotonic() - started))

    def slowest(self) -> float:
        return max(seconds for _, seconds in self.answers)

    def statuses(self) -> set[int | None]:
        return {status for status, _ in self.answers}


@contextmanager
def polling(url: str) -> Iterator[HealthPoller]:
    """Poll ``url`` until the block ends (and its last answer is in). The block starts once the
    first request is on its way, so at least one answer is from its time, however the threads
    are scheduled (a block that ended before the thread first ran left no answer at all)."""
    poller = HealthPoller(url)
    poller._thread.start()
    try:
        if not poller.asking.wait(60):
            raise AssertionError(f"the poller of {url} did not start within 60 s")
        yield poller
    finally:
        poller._stop.set()
        poller._thread.join(60)
