"""A service stopped by a signal says so in its last beacon (a clean stop, not a death), one
worker process or several; a service killed does not."""

import os
import signal
import subprocess
import sys

import pytest

from common.beacons import read_beacons
from common.lake import Lake
from tests.integration.stacks import wait_for
from tests.launcher import ROOT, free_port

pytestmark = pytest.mark.integration


def _start_ingest(lake: Lake, processes: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "LAMBDA_DATA_DIR": str(lake.root),
        "LAMBDA_VIEWS_FILE": str(ROOT / "views.yaml"),
        "LAMBDA_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # not needed to start
        "LAMBDA_INGEST_PORT": str(free_port()),
        "LAMBDA_INGEST_PROCESSES": str(processes),
        "LAMBDA_INSTANCE": "ingest",
        "LAMBDA_METRICS_PORT": "0",
    }
    return subprocess.Popen([sys.executable, "-m", "ingest"], env=env, cwd=ROOT)


def _beacon(lake: Lake):
    found = read_beacons(lake)
    return found[0] if found else None


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_an_http_service_cleanly(lake, processes, signum):
    service = _start_ingest(lake, processes)
    try:
        wait_for(lambda: _beacon(lake), 30, "the ingest beacon")
        service.send_signal(signum)
        assert service.wait(timeout=30) == 0
    finally:
        service.kill()
        service.wait()
    beacon = _beacon(lake)
    assert beacon.stopped and beacon.processes == processes


def test_a_killed_service_leaves_a_beacon_that_did_not_stop(lake):
    service = _start_ingest(lake, 1)
    try:
        wait_for(lambda: _beacon(lake), 30, "the ingest beacon")
    finally:
        service.kill()
        service.wait()
    assert not _beacon(lake).stopped
