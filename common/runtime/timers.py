"""Timers for service loops."""

import time


class Every:
    """Due once per ``seconds`` (the first time ``seconds`` after creation)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True
