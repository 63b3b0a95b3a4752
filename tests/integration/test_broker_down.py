"""Acceptance: with the broker stopped, POST /events answers 503 within 10 s, with Retry-After."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from runner.broker import start_broker
from runner.client import ApiKeys
from runner.launcher import ROOT, free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def lone_ingest(tmp_path: Path):
    """A broker and an ingest API of their own, so stopping the broker spares the pipeline."""
    bootstrap = f"127.0.0.1:{free_port()}"
    broker = start_broker(bootstrap, tmp_path / "broker.log")
    port = free_port()
    env = {
        **os.environ,
        "LAMBDA_KAFKA_BOOTSTRAP": bootstrap,
        "LAMBDA_INGEST_PORT": str(port),
        "LAMBDA_VIEWS_FILE": str(ROOT / "views.yaml"),
    }
    ingest = subprocess.Popen([sys.executable, "-m", "ingest"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30, "ingest to start")
    try:
        yield url, broker
    finally:
        ingest.terminate()
        ingest.wait(timeout=20)
        broker.kill()
        broker.wait()


def test_503_with_retry_after_when_the_broker_is_down(lone_ingest):
    url, broker = lone_ingest
    event = {"id": "down-1", "type": "purchase", "amount": 1}
    keys = ApiKeys.from_env(os.environ)  # the keys of the environment ingest runs with
    assert httpx.post(f"{url}/events", json=event, timeout=30, auth=keys).status_code == 202

    broker.kill()
    broker.wait()
    started = time.monotonic()
    response = httpx.post(
        f"{url}/events", json=[event, dict(event, id="down-2")], timeout=30, auth=keys
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["ids"] == ["down-1", "down-2"]
    assert "same ids" in response.json()["detail"]
    assert httpx.get(f"{url}/health", timeout=10).status_code == 503
