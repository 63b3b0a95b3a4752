"""GET /status answers from the status the observer publishes, whichever worker holds the lock:
503 before the first and when it is old; only the holder of the lock observes, and another
worker takes over when it dies."""

import json
import os
import time

from fastapi.testclient import TestClient

from common.model.timeutil import format_bucket
from common.model.views import parse_catalog
from common.monitoring.observer import status_path
from common.monitoring.stages import STAGES
from common.storage.locks import try_lock
from serving_layer.main import create_app
from serving_layer.settings import ServingSettings
from tests.integration.stacks import wait_for

VIEWS = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour", "metrics": {"n": "count"}}
        ]
    }
)
UNREACHABLE = "127.0.0.1:1"


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
