"""GET /status under `make demo` load: every stage moves and one is named the bottleneck; a
speed layer that stops is reported down, with its lag growing, within 10 s, and the warning
clears once it runs again."""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import pytest
from stacks import Pipeline

from common.monitoring.stages import STAGES
from runner.launcher import ROOT
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.stack]

SPEED_TROUBLE = {"down", "lag_growing", "stalled"}


@contextmanager
def demo_load(pipeline: Pipeline, seconds: int, rate: int) -> Iterator[subprocess.Popen]:
    """`make demo` with a steady load (``LAMBDA_DEMO_SECONDS``) against the pipeline."""
    env = {
        **pipeline.env(),
        "LAMBDA_INGEST_PORT": str(urlparse(pipeline.ingest_url).port),
        "LAMBDA_SERVING_PORT": str(urlparse(pipeline.serving_url).port),
        "LAMBDA_DEMO_SECONDS": str(seconds),
        "LAMBDA_DEMO_RATE": str(rate),
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "runner.demo"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield demo
    finally:
        demo.send_signal(signal.SIGTERM)
        output, _ = demo.communicate(timeout=30)
        print(output)


def status(pipeline: Pipeline) -> dict[str, Any]:
    response = pipeline.client.get(f"{pipeline.serving_url}/status")
    return response.json() if response.status_code == 200 else {}


def stage(found: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in found["stages"] if s["stage"] == name)


def speed_trouble(found: dict[str, Any]) -> set[str]:
    return {w["code"] for w in found.get("warnings", []) if w["stage"] == "speed"} & SPEED_TROUBLE


def a_batch_run_with_events(pipeline: Pipeline) -> None:
    """Start a run (or wait out the running one) until one that covered events succeeded,
    so the batch stage has a throughput."""

    def succeeded() -> bool:
        runs = pipeline.client.get(f"{pipeline.serving_url}/batch/runs").json()["runs"]
        if any(r["state"] == "succeeded" and r["events"] for r in runs):
            return True
        if not any(r["state"] in ("queued", "running") for r in runs):
            pipeline.client.post(f"{pipeline.serving_url}/batch/runs")
        return False

    wait_for(succeeded, 240, "a batch run over the posted events", interval_s=1)


def test_status_under_demo_load_and_a_stopped_speed_layer(pipeline):
    with demo_load(pipeline, seconds=400, rate=1000):
        a_batch_run_with_events(pipeline)

        def all_stages_moving() -> dict[str, Any] | None:
            found = status(pipeline)
            if not found or not all((stage(found, s)["throughput"] or 0) > 0 for s in STAGES):
                return None
            return found

        found = wait_for(
            all_stages_moving, 60, "non-zero throughput at every stage", interval_s=0.5
        )
        assert [s["stage"] for s in found["stages"]] == list(STAGES)
        assert all(s["up"] for s in found["stages"])
        assert found["bottleneck"]["stage"] in STAGES
        assert found["bottleneck"]["reason"].startswith("busy ")
        assert found["freshness"]["batch"]["version"]

        pipeline.pause("speed")
        paused = time.monotonic()
        try:

            def speed_down_and_behind() -> dict[str, Any] | None:
                found = status(pipeline)
                trouble = found and speed_trouble(found)
                if trouble and {"down", "lag_growing"} <= trouble:
                    return found
                return None

            found = wait_for(
                speed_down_and_behind, 10, "the speed layer reported down, lag growing"
            )
            assert time.monotonic() - paused <= 10
            assert not stage(found, "speed")["up"]
            assert stage(found, "ingest")["up"]
        finally:
            pipeline.resume("speed")

        def cleared() -> dict[str, Any] | None:
            found = status(pipeline)
            if found and stage(found, "speed")["up"] and not speed_trouble(found):
                return found
            return None

        wait_for(cleared, 60, "the speed layer's warnings to clear", interval_s=0.5)
