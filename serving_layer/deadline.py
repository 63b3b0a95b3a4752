"""Queries cut at their deadline: DuckDB statements interrupted by one watchdog thread."""

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb

from common.errors import LambdaError


class QueryTimeout(LambdaError):
    """A query ran past its deadline (503 with Retry-After)."""


class Watchdog:
    """Calls each armed action at its time, unless it was disarmed first: one thread for
    every statement of every query."""

    def __init__(self) -> None:
        self._armed: list[tuple[float, int, Callable[[], None]]] = []
        self._disarmed: set[int] = set()
        self._tokens = itertools.count()
        self._condition = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="query-watchdog", daemon=True)
        self._thread.start()

    def arm(self, at: float, action: Callable[[], None]) -> int:
        """Call ``action`` at ``at`` (``time.monotonic``); the token disarms it."""
        with self._condition:
            token = next(self._tokens)
            heapq.heappush(self._armed, (at, token, action))
            self._condition.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._condition:
            if any(armed == token for _, armed, _ in self._armed):
                self._disarmed.add(token)

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        with self._condition:
            while not self._stopped:
                if not self._armed:
                    self._condition.wait()
                    continue
                at, token, action = self._armed[0]
                if token in self._disarmed:
                    heapq.heappop(self._armed)
                    self._disarmed.discard(token)
                    continue
                delay = at - time.monotonic()
                if delay > 0:
                    self._condition.wait(delay)
                    continue
                heapq.heappop(self._armed)
                action()


class Deadline:
    """When a query began (its answer says how long it took) and must be answered by; its
    statements run under :meth:`running`."""

    def __init__(self, timeout_s: float, watchdog: Watchdog) -> None:
        self.timeout_s = timeout_s
        self.started = time.monotonic()
        self.at = self.started + timeout_s
        self._watchdog = watchdog

    def check(self) -> None:
        """QueryTimeout once the deadline has passed."""
        if time.monotonic() >= self.at:
            raise QueryTimeout(f"the query ran longer than {self.timeout_s:g} s")

    @contextmanager
    def running(self, cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Run a statement on ``cursor``, interrupted at the deadline (QueryTimeout)."""
        self.check()
        token = self._watchdog.arm(self.at, cursor.interrupt)
        try:
            yield
        except duckdb.InterruptException as exc:
            raise QueryTimeout(f"the query ran longer than {self.timeout_s:g} s") from exc
        finally:
            self._watchdog.disarm(token)
