"""A service that cannot start (a configuration only it checks is invalid) is not restarted
forever: `make run` says which and why, stops everything and exits non-zero."""

import subprocess
from pathlib import Path

import pytest
from conftest import VIEWS_FILE

from runner.launcher import pipeline_env, start_runner, stop_runner

pytestmark = pytest.mark.integration


def test_a_service_that_keeps_failing_at_start_stops_the_pipeline(tmp_path):
    env = pipeline_env(tmp_path / "data", VIEWS_FILE)
    env["LAMBDA_SPEED_SNAPSHOT_SECONDS"] = "5"  # the speed layer accepts at most 1
    log_path = tmp_path / "runner.log"
    runner = start_runner(env, log_path)
    try:
        code = runner.wait(timeout=120)
    except subprocess.TimeoutExpired:
        stop_runner(runner)
        raise AssertionError(f"the runner kept going:\n{log_path.read_text()[-3000:]}") from None
    log = log_path.read_text(errors="replace")
    assert code == 1, log[-3000:]
    gave_up = [line for line in log.splitlines() if "not restarting it" in line]
    assert len(gave_up) == 1, log[-3000:]
    assert "speed" in gave_up[0] and "exit code 2" in gave_up[0]
    assert "stopped ingest" in log and "stopped the broker" in log
    assert list(Path(env["LAMBDA_DATA_DIR"], "run").glob("*.pid")) == []
