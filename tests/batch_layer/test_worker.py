"""The scheduler's batch job process keeps one Spark session for run after run, and starts a
fresh one after a run that failed or a worker that died."""

import os
import signal
from pathlib import Path

import pytest

from batch_layer.worker import JobWorker
from common.model.events import Event
from common.storage.batch_runs import RunStore
from common.storage.lake import Lake
from common.storage.master import PartitionBuffer, write_master_file
from runner.launcher import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

VIEWS = """views:
  - name: taps
    event_type: tap
    granularity: hour
    metrics: {n: count}
"""


def archive(lake: Lake, first: int, last: int) -> None:
    buffer = PartitionBuffer(first=first)
    for offset in range(first, last + 1):
        buffer.add(offset, Event(f"e{offset}", "tap", offset * 1000, {}).encode())
    write_master_file(lake, 1, 0, buffer)


@pytest.fixture
def worker(tmp_path: Path):
    views = tmp_path / "views.yaml"
    views.write_text(VIEWS)
    env = {
        **os.environ,
        "LAMBDA_DATA_DIR": str(tmp_path / "data"),
        "LAMBDA_VIEWS_FILE": str(views),
        "LAMBDA_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # no broker: nothing to wait for
        "LAMBDA_ARCHIVE_WAIT_SECONDS": "0",
        "LAMBDA_SPARK_MASTER": "local[1]",
        "LAMBDA_BATCH_NICE": "0",
    }
    handle = JobWorker(env)
    yield handle
    handle.close()


def lake_of(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "data")
    lake.ensure()
    lake.start_generation()
    return lake


def run(lake: Lake, worker: JobWorker) -> tuple[int, str]:
    record = RunStore(lake).begin("interval")
    code = worker.run(record.id)
    ended = RunStore(lake).get(record.id)
    assert ended is not None
    return code, ended.state


def test_runs_share_one_process_and_each_sees_the_new_archive(tmp_path, worker):
    lake = lake_of(tmp_path)
    archive(lake, 0, 9)
    assert run(lake, worker) == (0, "succeeded")
    first_pid = worker.pid
    archive(lake, 10, 24)
    assert run(lake, worker) == (0, "succeeded")
    assert worker.pid == first_pid
    manifest = lake.read_manifest()
    assert manifest is not None and (manifest.version, manifest.events) == ("000002", 25)


def test_a_failed_run_ends_the_process_and_the_next_starts_afresh(tmp_path, worker):
    lake = lake_of(tmp_path)
    archive(lake, 0, 9)
    views = tmp_path / "views.yaml"
    views.write_text("views: [")  # the views file is read anew for every run
    assert run(lake, worker) == (1, "failed")
    assert worker.pid is None
    views.write_text(VIEWS)
    assert run(lake, worker) == (0, "succeeded")
    killed = worker.pid
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: not worker.running, 30, "the killed worker to be gone")
    assert run(lake, worker) == (0, "succeeded")
    assert worker.pid not in (None, killed)
    manifest = lake.read_manifest()
    assert manifest is not None and manifest.version == "000002"


def children(pid: int) -> list[str]:
    """The command names of a process's children."""
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                names.append(Path(f"/proc/{child}/comm").read_text().strip())
            except FileNotFoundError:
                continue
    return names


def test_a_started_worker_warms_its_spark_session_before_the_first_run(tmp_path, worker):
    lake = lake_of(tmp_path)
    worker.start()  # what the scheduler does when it starts
    pid = worker.pid
    assert pid is not None
    wait_for(lambda: "java" in children(pid), 120, "the worker's Spark JVM, before any run")
    archive(lake, 0, 9)
    assert run(lake, worker) == (0, "succeeded")
    assert worker.pid == pid  # the warm process ran it
