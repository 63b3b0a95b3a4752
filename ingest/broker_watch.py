"""Whether the broker can be reached, as last observed by a thread of its own."""

import threading

from common.runtime.kafka import bootstrap_reachable

WATCH_INTERVAL_S = 1.0


class BrokerWatch:
    """Probes the bootstrap servers every ``interval_s`` in the background, so ``GET
    /health`` reads the last observation and never waits on the broker (nor on the request
    threads, which may all be waiting on it)."""

    def __init__(self, bootstrap: str, interval_s: float = WATCH_INTERVAL_S) -> None:
        self.bootstrap = bootstrap
        self.interval_s = interval_s
        self.reachable = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="broker-watch", daemon=True)

    def start(self) -> "BrokerWatch":
        """Observe once now, then in the background."""
        self.reachable = bootstrap_reachable(self.bootstrap)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.reachable = bootstrap_reachable(self.bootstrap)
