"""The observer publishes the status for every worker to answer from and logs each warning
as a JSON line when it appears and when it clears."""

import json
import logging

from common.monitoring.beacons import BeaconWriter
from common.monitoring.observer import JsonFormatter, Observer, read_status
from serving_layer.rejected import RejectedIndex
from serving_layer.settings import ServingSettings
from serving_layer.sources import LagProbe, resolve

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
