"""Graceful stop on SIGTERM/SIGINT for the long-running services."""

import signal
import threading
from types import FrameType


def stop_event_on_signals() -> threading.Event:
    """An event set when the process is asked to stop."""
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return stop
