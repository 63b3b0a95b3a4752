"""`make batch` queues a run for the scheduler and follows its record to the end: a run
already active is waited for first, and then one is queued that starts after the command; a
failed run is reported; a run nobody takes gives up at the deadline; with no scheduler alive,
the command runs the batch itself."""

import threading
import time

import pytest

from common.monitoring.beacons import Beacon, beacons_dir
from common.storage.batch_runs import RunRecord, RunStore
from common.storage.lake import Lake, write_atomic
from runner import batch
from runner.batch import Requester, RunFailed, describe, scheduler_alive
from tests.support.waiting import wait_for


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "POLL_SECONDS", 0.01)
    lake = Lake(tmp_path)
    lake.ensure()
    return RunStore(lake)


class Scheduler(threading.Thread):
    """Claims each queued run, as the batch scheduler does, and ends it with ``end``."""

    def __init__(self, runs: RunStore, end) -> None:
        super().__init__(daemon=True)
        self.runs, self.end, self.claimed = runs, end, []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01):
            record = self.runs.claim_queued()
            if record is not None:
                self.claimed.append(record.id)
                self.runs.write(self.end(record))


def published(record: RunRecord) -> RunRecord:
    return record.succeeded(f"v-{record.id[-4:]}", 42, 1.5)


def test_a_run_is_queued_and_followed_until_it_is_published(runs):
    scheduler = Scheduler(runs, published)
    scheduler.start()
    record = Requester(runs, print).run(deadline=float("inf"))
    scheduler.stop.set()
    assert (record.state, record.trigger) == ("succeeded", "manual")
    assert scheduler.claimed == [record.id]
    assert describe(record).startswith(f"batch version {record.version} published: 42 events")


def test_an_active_run_is_waited_for_and_then_a_new_one_runs(runs):
    active = runs.begin("interval")  # running, started before the command
    said: list[str] = []
    result: dict[str, RunRecord] = {}
    requester = Requester(runs, said.append)
    thread = threading.Thread(target=lambda: result.update(r=requester.run(float("inf"))))
    thread.start()
    wait_for(lambda: said, 10, "the requester to see the active run")
    assert active.id in said[0]
    scheduler = Scheduler(runs, published)
    scheduler.start()
    runs.write(active.succeeded("v-old", 1, 1.0))  # the active run ends
    thread.join(timeout=10)
    scheduler.stop.set()
    assert result["r"].state == "succeeded"
    assert result["r"].id != active.id  # a run that started after the command
    assert scheduler.claimed == [result["r"].id]


def test_a_failed_run_is_reported_with_its_error(runs):
    scheduler = Scheduler(runs, lambda r: r.failed("Spark failed: no space left", 2.0))
    scheduler.start()
    record = Requester(runs, print).run(deadline=float("inf"))
    scheduler.stop.set()
    assert (record.state, record.error) == ("failed", "Spark failed: no space left")


def test_a_run_that_nobody_takes_gives_up_at_the_deadline(runs):
    with pytest.raises(RunFailed, match="still queued at the deadline"):
        Requester(runs, print).run(deadline=0)


def beacon(lake: Lake, stage: str, age_s: float, stopped: bool = False) -> None:
    now = time.time()
    found = Beacon(
        stage=stage,
        instance="1",
        host="h",
        pid=1,
        started_at=now - 60,
        updated_at=now - age_s,
        stopped=stopped,
    )
    write_atomic(beacons_dir(lake) / f"{found.key}.json", found.to_json())


def test_a_scheduler_is_alive_while_its_beacon_is_fresh(tmp_path):
    lake = Lake(tmp_path)
    assert not scheduler_alive(lake)  # none at all
    beacon(lake, "speed", 0)
    assert not scheduler_alive(lake)  # another stage's
    beacon(lake, "batch", 0, stopped=True)
    assert not scheduler_alive(lake)  # stopped cleanly
    beacon(lake, "batch", 600)
    assert not scheduler_alive(lake)  # stale: the process died
    beacon(lake, "batch", 0)
    assert scheduler_alive(lake)
