"""A service stopped by a signal says so in its last beacon (a clean stop, not a death), one
worker process or several; a service killed does not."""

import os
import signal
import subprocess
import sys

import httpx
import pytest

from common.monitoring.beacons import read_beacons
from common.storage.lake import Lake
from runner.launcher import ROOT, free_port
from tests.integration.stacks import wait_for

pytestmark = pytest.mark.integration


def _start_ingest(lake: Lake, processes: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "LAMBDA_DATA_DIR": str(lake.root),
        "LAMBDA_VIEWS_FILE": str(ROOT / "views.yaml"),
        "LAMBDA_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # not needed to start
        "LAMBDA_INGEST_PORT": str(port),
        "LAMBDA_INGEST_PROCESSES": str(processes),
        "LAMBDA_INSTANCE": "ingest",
        "LAMBDA_METRICS_PORT": "0",
    }
    process = subprocess.Popen([sys.executable, "-m", "ingest"], env=env, cwd=ROOT)
    return process, f"http://127.0.0.1:{port}/health"


def _beacon(lake: Lake):
    found = read_beacons(lake)
    return found[0] if found else None


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("moment", ["starting", "serving"])
def test_a_signal_stops_an_http_service_cleanly(lake, processes, signum, moment):
    service, health = _start_ingest(lake, processes)
    try:
        # "starting": at its first beacon, before it serves (a signal must not be lost then)
        wait_for(lambda: _beacon(lake), 30, "the ingest beacon", interval_s=0.005)
        if moment == "serving":
            wait_for(lambda: _answers(health), 30, "ingest to answer")
        service.send_signal(signum)
        assert service.wait(timeout=30) == 0
    finally:
        service.kill()
        service.wait()
    beacon = _beacon(lake)
    assert beacon.stopped and beacon.processes == processes


def test_a_killed_service_leaves_a_beacon_that_did_not_stop(lake):
    service, _ = _start_ingest(lake, 1)
    try:
        wait_for(lambda: _beacon(lake), 30, "the ingest beacon")
    finally:
        service.kill()
        service.wait()
    assert not _beacon(lake).stopped
