"""Acceptance: an invalid views file stops `make run` at start, naming the view and field."""

import os
import subprocess
import sys

import pytest

from runner.launcher import ROOT

pytestmark = pytest.mark.integration


def test_runner_refuses_an_invalid_views_file(tmp_path):
    views = tmp_path / "views.yaml"
    views.write_text(
        "views:\n"
        "  - name: revenue\n"
        "    event_type: purchase\n"
        "    granularity: fortnight\n"
        "    metrics: {orders: count}\n"
    )
    env = {**os.environ, "LAMBDA_VIEWS_FILE": str(views), "LAMBDA_DATA_DIR": str(tmp_path / "d")}
    result = subprocess.run(
        [sys.executable, "-m", "runner"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "view 'revenue'" in result.stderr
    assert "field 'granularity'" in result.stderr
    assert not (tmp_path / "d" / "run" / "broker.pid").exists()
