"""kill -9 of `make run` itself: its services and broker die with it, and a new `make run` on
the same data directory starts and answers exactly."""

import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest
from conftest import GroundTruth, Ledger, launch
from events_factory import EventFactory
from stacks import LocalPipeline

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def child_pids(pipeline: LocalPipeline) -> dict[str, int]:
    """The pid of every process the runner started (services and broker), from its pid files."""
    pids = {path.stem: int(path.read_text()) for path in pipeline.lake.run.glob("*.pid")}
    assert {"broker", "ingest", "archiver", "speed", "scheduler", "serving"} <= set(pids), pids
    return pids


def assert_a_second_runner_is_refused(running: LocalPipeline) -> None:
    """Another `make run` on a data directory in use stops at once and touches nothing."""
    rival = running.run_command([sys.executable, "-m", "runner"], timeout_s=60)
    assert rival.returncode == 2, rival.stdout + rival.stderr
    assert "another make run is already running" in rival.stderr


def assert_exact(pipeline: LocalPipeline, truth: GroundTruth) -> None:
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name))


def test_kill_9_of_the_runner_takes_its_children_and_a_new_run_starts_clean(tmp_path):
    data_dir = tmp_path / "data"
    ledger = Ledger()
    truth = GroundTruth(ledger)
    factory = EventFactory(seed=66, prefix="runner-killed", now_ms=now_ms())
    old: dict[str, int] = {}
    try:
        with launch(tmp_path, data_dir) as first:
            ledger.post(first, factory.batch(500))
            first.wait_caught_up()
            # The bundled broker keeps its log in memory: only archived events outlive it.
            wait_for(lambda: first.health()["archive"]["lag"] == 0, 60, "the archive to catch up")
            old = child_pids(first)
            assert_a_second_runner_is_refused(first)
            assert all(is_running(pid) for pid in old.values())
            os.kill(first.runner_pid, signal.SIGKILL)
            left = lambda: {n: p for n, p in old.items() if is_running(p)}  # noqa: E731
            wait_for(lambda: not left(), 10, f"the runner's children {old} to die with it")

        with launch(tmp_path, data_dir) as second:
            assert second.lake.read_generation() == 2
            second.wait_caught_up()
            assert_exact(second, truth)  # the first run's events, from the archive
            ledger.post(second, factory.with_duplicates(factory.batch(300), rate=0.05))
            second.wait_caught_up()
            assert_exact(second, truth)
    finally:
        for pid in old.values():  # a failed run must not leave the first run behind
            if is_running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
