"""The lag probe: the topic's end offsets, read beside a query's DuckDB work (so the two waits
overlap) and never waited on long; what a speed snapshot does not reflect yet is counted from
them (``Served.lag``)."""

import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from common.errors import BrokerError
from common.runtime.kafka import EndOffsets, bootstrap_reachable
from common.runtime.settings import CommonSettings

log = logging.getLogger("serving")


def ends_within(ends: Future[dict[int, int] | None], timeout_s: float) -> dict[int, int] | None:
    """The end offsets, if their read is back within ``timeout_s``: an answer never waits
    long on its metadata. Late, the lag is unknown (null) rather than computed from older
    offsets, which could understate it (the read goes on, and the next answers share it)."""
    try:
        return ends.result(timeout=timeout_s)
    except FutureTimeout:
        return None


class LagProbe:
    """Counts the events on the topic that a speed snapshot does not reflect yet."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self._ends: EndOffsets | None = None
        # Request threads share the probe: one creates, reads or closes its consumer at a time.
        self._lock = threading.Lock()
        # (when the last read began, its ends or None when it failed)
        self._last: tuple[float, dict[int, int] | None] | None = None
        self._read_at: float | None = None  # when the last read that succeeded began

    def ends(self) -> dict[int, int] | None:
        """The topic's end offsets as of this call or later, or None when the broker cannot be
        reached. Concurrent callers share one read: a caller waiting while another read
        began after it takes that read's result (or failure) instead of reading again, so
        callers queued behind a broker that hangs do not each wait out a read of their own."""
        asked = time.monotonic()
        with self._lock:
            if self._last is not None and self._last[0] >= asked:
                return self._last[1]
            began = time.monotonic()
            found = self._read()
            self._last = (began, found)
            if found is not None:
                self._read_at = began
            return found

    def read_within(self, seconds: float) -> bool:
        """Whether a read of the end offsets that began in the last ``seconds`` succeeded
        (never waits: what /health says of a broker that does not answer in time)."""
        read_at = self._read_at
        return read_at is not None and time.monotonic() - read_at <= seconds

    def _read(self) -> dict[int, int] | None:
        if self._ends is None and not bootstrap_reachable(self.settings.kafka_bootstrap):
            return None
        try:
            if self._ends is None:
                self._ends = EndOffsets(self.settings)
            return self._ends.read()
        except BrokerError as exc:
            log.warning("cannot read end offsets: %s", exc)
            self._close()
            return None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._ends is not None:
            try:
                self._ends.close()
            finally:
                self._ends = None
