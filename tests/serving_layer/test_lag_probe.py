"""The lag probe: callers queued behind a read share its outcome, failures included, so a
broker that hangs costs one read more, not one per caller; /health's broker flag never waits."""

import threading
import time

from common.runtime.settings import CommonSettings
from runner.launcher import free_port
from serving_layer import lag_probe
from serving_layer.lag_probe import LagProbe


class CountingClock:
    """time.monotonic, counting the calls (a caller of ``ends`` reads it first)."""

    def __init__(self) -> None:
        self.calls = 0

    def monotonic(self) -> float:
        self.calls += 1
        return time.monotonic()


def wait_until(condition, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_callers_queued_behind_a_failing_read_share_the_next_one(monkeypatch):
    probe = LagProbe(CommonSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    reads: list[threading.Event] = []

    def hanging_read() -> None:
        release = threading.Event()
        reads.append(release)
        release.wait(10)

    monkeypatch.setattr(probe, "_read", hanging_read)
    clock = CountingClock()
    monkeypatch.setattr(lag_probe, "time", clock)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(probe.ends())) for _ in range(4)]
    threads[0].start()
    wait_until(lambda: len(reads) == 1)  # the first read hangs
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: clock.calls == 2 + 3)  # the first read's two, and three callers asked
    reads[0].set()
    wait_until(lambda: len(reads) == 2)  # one caller reads again: it asked after read 1 began
    reads[1].set()
    for thread in threads:
        thread.join(10)
    assert len(reads) == 2  # the two others took the second read's failure
    assert results == [None] * 4
    assert probe.read_within(60) is False


def test_a_successful_read_is_remembered_for_the_health_flag(monkeypatch):
    probe = LagProbe(CommonSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    assert probe.ends() is None and probe.read_within(60) is False  # nothing listens
    monkeypatch.setattr(probe, "_read", lambda: {0: 5})
    assert probe.ends() == {0: 5}
    assert probe.read_within(60) is True
    assert probe.read_within(-1) is False
