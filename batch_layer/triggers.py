"""When the scheduler's automatic triggers are due: the interval and the data size."""

from dataclasses import dataclass

from common.storage.batch_runs import Trigger, uncovered_events
from common.storage.lake import Lake

RETRY_SECONDS = 30.0


@dataclass
class Triggers:
    """The interval (0: off) and the data-size threshold (0: off), and when each is due.

    After a failed automatic run both wait ``RETRY_SECONDS``, so a run that cannot succeed
    (the events stay uncovered) is not restarted in a loop."""

    interval: float
    min_events: int = 0
    next_interval: float = 0.0
    retry_at: float = 0.0

    def describe(self) -> str:
        every = f"every {self.interval:.0f}s" if self.interval > 0 else "no interval"
        size = f"{self.min_events} uncovered events" if self.min_events > 0 else "no size trigger"
        return f"{every}, {size}, requests, view changes"

    def due(self, lake: Lake, now: float) -> Trigger | None:
        if now < self.retry_at:
            return None
        if self.interval > 0 and now >= self.next_interval:
            return "interval"
        if self.min_events > 0 and uncovered_events(lake) >= self.min_events:
            return "size"
        return None

    def ran(self, ok: bool, now: float, automatic: bool) -> None:
        """A run ended (or was not started when ``ok`` is False): the interval starts over."""
        self.next_interval = now + self.interval
        self.retry_at = now + RETRY_SECONDS if automatic and not ok else 0.0
