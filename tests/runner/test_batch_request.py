"""`make batch` asks the serving API for a run and follows its record to the end: a run
already active is waited for first, and then one is requested that starts after the command;
a failed run is reported; with no pipeline answering, the caller is told so (it then runs the
batch itself)."""

import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from common.model.views import parse_catalog
from common.storage.batch_runs import RunRecord, RunStore
from common.storage.lake import Lake
from runner import batch
from runner.batch import NoPipeline, Requester, describe
from serving_layer.main import create_app
from serving_layer.settings import ServingSettings
from tests.support.waiting import wait_for

VIEWS = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour", "metrics": {"n": "count"}}
        ]
    }
)


@pytest.fixture
def serving(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "POLL_SECONDS", 0.01)
    settings = ServingSettings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    with TestClient(create_app(settings, VIEWS)) as client:
        yield client, RunStore(Lake(tmp_path))


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


def test_a_run_is_requested_and_followed_until_it_is_published(serving):
    client, runs = serving
    scheduler = Scheduler(runs, published)
    scheduler.start()
    said = []
    record = Requester(client, "http://testserver", said.append).run(deadline=float("inf"))
    scheduler.stop.set()
    assert record["state"] == "succeeded"
    assert scheduler.claimed == [record["id"]]
    assert describe(record).startswith(f"batch version {record['version']} published: 42 events")


def test_an_active_run_is_waited_for_and_then_a_new_one_runs(serving):
    client, runs = serving
    active = runs.begin("interval")  # running, started before the command
    said = []
    requester = Requester(client, "http://testserver", said.append)
    result = {}
    thread = threading.Thread(target=lambda: result.update(requester.run(float("inf"))))
    thread.start()
    wait_for(lambda: said, 10, "the requester to see the active run")
    assert active.id in said[0]
    scheduler = Scheduler(runs, published)
    scheduler.start()
    runs.write(active.succeeded("v-old", 1, 1.0))  # the active run ends
    thread.join(timeout=10)
    scheduler.stop.set()
    assert result["state"] == "succeeded"
    assert result["id"] != active.id  # a run that started after the command
    assert scheduler.claimed == [result["id"]]


def test_a_failed_run_is_reported_with_its_error(serving):
    client, runs = serving
    scheduler = Scheduler(runs, lambda r: r.failed("Spark failed: no space left", 2.0))
    scheduler.start()
    record = Requester(client, "http://testserver", print).run(deadline=float("inf"))
    scheduler.stop.set()
    assert (record["state"], record["error"]) == ("failed", "Spark failed: no space left")


def test_a_run_that_never_starts_gives_up_at_the_deadline(serving):
    client, _ = serving
    with pytest.raises(batch.RunFailed, match="still queued at the deadline"):
        Requester(client, "http://testserver", print).run(deadline=0)


def test_no_pipeline_is_told_apart_from_a_failure():
    with httpx.Client(timeout=2) as client, pytest.raises(NoPipeline):
        Requester(client, "http://127.0.0.1:1", print).run(deadline=float("inf"))
