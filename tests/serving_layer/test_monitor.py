"""The monitor publishes the status for every worker to answer from, logs each warning as a
JSON line when it appears and when it clears, and only the holder of the lock observes."""

import json
import logging
import os
import time

from fastapi.testclient import TestClient

from common.model.timeutil import format_bucket
from common.model.views import parse_catalog
from common.monitoring.beacons import BeaconWriter
from common.storage.locks import try_lock
from serving_layer.lag_probe import LagProbe
from serving_layer.main import create_app
from serving_layer.monitor import JsonFormatter, Monitor, read_status, status_path
from serving_layer.settings import ServingSettings
from serving_layer.status import STAGES
from tests.integration.stacks import wait_for

VIEWS = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour", "metrics": {"n": "count"}}
        ]
    }
)
UNREACHABLE = "127.0.0.1:1"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_warnings_are_logged_as_json_when_they_appear_and_when_they_clear(lake):
    monitor = Monitor(lake, LagProbe(ServingSettings(kafka_bootstrap=UNREACHABLE)))
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


def test_workers_answer_from_the_status_the_lock_holder_publishes(lake):
    settings = ServingSettings(data_dir=lake.root, kafka_bootstrap=UNREACHABLE)
    lock = lake.root / "status" / "monitor.lock"
    lock.parent.mkdir(parents=True)
    held = try_lock(lock)  # another worker observes
    try:
        with TestClient(create_app(settings, VIEWS)) as client:
            early = client.get("/status")
            assert early.status_code == 503 and early.headers["Retry-After"]
            assert "not observed" in early.json()["detail"]
            old = {"generated_at": format_bucket(int((time.time() - 60) * 1000))}
            status_path(lake).write_text(json.dumps(old))
            stale = client.get("/status")
            assert stale.status_code == 503 and "old" in stale.json()["detail"]

            os.close(held)  # that worker died: this one takes over within a second or two
            held = None
            answer = wait_for(
                lambda: (r := client.get("/status")).status_code == 200 and r.json(),
                10,
                "a status from the monitor that took over",
            )
            assert [s["stage"] for s in answer["stages"]] == list(STAGES)
            assert "/status" in client.get("/openapi.json").json()["paths"]
    finally:
        if held is not None:
            os.close(held)
