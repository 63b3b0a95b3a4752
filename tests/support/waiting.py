"""Waiting for a state in the tests: poll a condition until it holds or a deadline passes.

The one way the suites wait for something to happen (a process to be up, an answer to change,
a run to end), so that no test sleeps a fixed time and hopes: each waits exactly as long as the
state takes, up to a deadline that names what never came."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    timeout_s: float,
    what: str,
    *,
    interval_s: float = 0.1,
    between: Callable[[], object] | None = None,
) -> T:
    """Call ``condition`` until it returns something truthy, and return that.

    It is called at least once, and once more at the deadline, so a state reached just in
    time counts. ``between`` runs after each miss (e.g. one step of the supervisor under test),
    then ``interval_s`` passes. Past ``timeout_s`` it fails naming ``what`` and the last value
    ``condition`` returned."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s}s waiting for {what} (last: {last!r})"
            )
        if between is not None:
            between()
        time.sleep(interval_s)
