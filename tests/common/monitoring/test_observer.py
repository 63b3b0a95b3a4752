"""The observer publishes the status for every worker to answer from and logs each warning
as a JSON line when it appears and when it clears."""

import json
import logging

from common.monitoring.beacons import BeaconWriter
from common.monitoring.observer import JsonFormatter, Observer, read_status
from serving_layer.lag_probe import LagProbe
from serving_layer.pairing import resolve
from serving_layer.rejected import RejectedIndex
from serving_layer.settings import ServingSettings

UNREACHABLE = "127.0.0.1:1"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_warnings_are_logged_as_json_when_they_appear_and_when_they_clear(lake):
    probe = LagProbe(ServingSettings(kafka_bootstrap=UNREACHABLE))
    monitor = Observer(lake, probe, resolve, RejectedIndex())
    lines = Lines()
    monitor.alerts.addHandler(lines)
    writers = [BeaconWriter(lake, stage, instance=stage).start() for stage in ("ingest", "speed")]
    try:
        first = monitor.tick()
        assert read_status(lake) == first
        down = {w["stage"] for w in first["warnings"] if w["code"] == "down"}
        assert down == {"broker", "archiver", "batch", "serving"}
        fired = [(line["stage"], line["level"], line["state"]) for line in lines.lines]
        assert ("archiver", "ERROR", "firing") in fired
        assert all(line["logger"] == "alerts" and line["message"] for line in lines.lines)

        writers.append(BeaconWriter(lake, "archiver", instance="archiver").start())
        lines.lines.clear()
        second = monitor.tick()
        # (other tests of this process counted rejected records: only "down" lines here)
        downs = [line for line in lines.lines if line["code"] == "down"]
        assert [(line["stage"], line["state"], line["level"]) for line in downs] == [
            ("archiver", "resolved", "INFO")
        ]
        broker = [w for w in second["warnings"] if w["stage"] == "broker"]
        assert broker[0]["since"] == first["generated_at"]  # dated from its first sight
    finally:
        for writer in writers:
            writer.stop()
        monitor.alerts.removeHandler(lines)


class FakeProbe:
    def ends(self) -> dict[int, int] | None:
        return {0: 10, 1: 5}


class FakeServed:
    """Nothing archived, no batch version, no snapshot: all 15 events on the topic wait."""

    def __init__(self) -> None:
        self.generation = 0
        self.newest = None
        self.slices: dict = {}

    def behind(self, ends: dict[int, int]) -> int:
        return sum(ends.values())

    def unreflected_archive(self, files=None) -> int:
        return 0

    def unread(self) -> int:
        return 0


class FakeRejected:
    def summary(self, files) -> dict:
        return {"count": 0, "recent": [], "files_read": 0, "files": len(files)}


def test_the_observer_needs_only_what_it_is_given_of_the_serving_layer(lake):
    observer = Observer(lake, FakeProbe(), lambda _: FakeServed(), FakeRejected())
    status = observer.tick()
    lags = {s["stage"]: s["lag"] for s in status["stages"]}
    assert (lags["speed"], lags["archiver"], lags["batch"]) == (15, 15, 0)
    assert status["rejected"] == FakeRejected().summary([])
    assert status["freshness"]["speed"]["lag"] == 15
