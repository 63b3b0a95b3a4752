"""The scheduler catches up on archive an earlier run left outside every batch, and
recomputes views that are new or changed since the newest batch version."""

import threading

import pytest

from batch_layer import scheduler
from batch_layer.scheduler import uncovered_earlier_generations, views_to_recompute
from batch_layer.triggers import RETRY_SECONDS, Triggers
from common.model.events import Event
from common.model.views import parse_catalog
from common.storage.batch_runs import RunStore
from common.storage.lake import BatchVersion, Lake
from common.storage.master import PartitionBuffer, write_master_file


def archive(lake: Lake, generation: int, last: int) -> None:
    buffer = PartitionBuffer(first=0)
    for offset in range(last + 1):
        buffer.add(offset, Event(f"e{generation}-{offset}", "t", 0, {}).encode())
    write_master_file(lake, generation, 0, buffer)


def test_only_earlier_generations_beyond_the_batch_count(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    archive(lake, 1, 9)
    assert not uncovered_earlier_generations(lake)  # generation 1 is the current one
    lake.start_generation()
    archive(lake, 2, 3)
    assert uncovered_earlier_generations(lake)
    lake.publish_manifest(BatchVersion("000001", "t", 10, {1: {0: 9}}, ()))
    assert not uncovered_earlier_generations(lake)


VIEWS = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour", "metrics": {"n": "count"}},
            {"name": "buys", "event_type": "buy", "granularity": "day", "metrics": {"n": "count"}},
        ]
    }
)


def published(lake: Lake, fingerprints: dict[str, str]) -> None:
    lake.publish_manifest(BatchVersion("000001", "t", 0, {}, tuple(fingerprints), 0, fingerprints))


def test_views_to_recompute_are_those_the_newest_version_lacks(tmp_path):
    lake = Lake(tmp_path)
    assert views_to_recompute(lake, VIEWS) == []  # no batch run yet: nothing mixes
    published(lake, VIEWS.fingerprints())
    assert views_to_recompute(lake, VIEWS) == []
    published(lake, {**VIEWS.fingerprints(), "taps": "another definition"})
    assert views_to_recompute(lake, VIEWS) == ["taps"]
    published(lake, {})  # written before fingerprints were recorded
    assert views_to_recompute(lake, VIEWS) == ["taps", "buys"]


@pytest.mark.parametrize("interval", [0, 3600])
def test_a_changed_view_runs_a_batch_at_start_even_without_a_schedule(
    tmp_path, monkeypatch, interval
):
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    runs: list[str] = []
    monkeypatch.setattr(
        scheduler, "run_once", lambda lake, trigger, record=None: runs.append(trigger) or True
    )
    stop = threading.Event()
    stop.set()
    published(lake, VIEWS.fingerprints())
    scheduler.run_schedule(Triggers(interval), lake, stop, VIEWS)
    assert runs == []
    published(lake, {"buys": VIEWS.fingerprints()["buys"]})
    scheduler.run_schedule(Triggers(interval), lake, stop, VIEWS)
    assert runs == ["views-changed"]


def test_the_size_trigger_is_due_at_min_events_uncovered(tmp_path):
    lake = Lake(tmp_path)
    archive(lake, 1, 9)
    assert Triggers(0, min_events=11).due(lake, now=0) is None
    assert Triggers(0, min_events=10).due(lake, now=0) == "size"
    assert Triggers(0, min_events=0).due(lake, now=0) is None  # off
    lake.publish_manifest(BatchVersion("000001", "t", 10, {1: {0: 5}}, ()))
    assert Triggers(0, min_events=5).due(lake, now=0) is None  # 4 uncovered now
    assert Triggers(0, min_events=4).due(lake, now=0) == "size"


def test_the_interval_restarts_after_each_run_and_a_failure_waits_before_retrying(tmp_path):
    lake = Lake(tmp_path)
    archive(lake, 1, 9)
    triggers = Triggers(100, min_events=5)
    triggers.ran(ok=True, now=0, automatic=False)
    assert triggers.due(lake, now=50) == "size"
    triggers.ran(ok=False, now=50, automatic=True)
    assert triggers.due(lake, now=50 + RETRY_SECONDS - 1) is None
    assert triggers.due(lake, now=50 + RETRY_SECONDS) == "size"
    triggers.min_events = 0
    assert triggers.due(lake, now=149) is None
    assert triggers.due(lake, now=150) == "interval"


def test_a_queued_request_is_run_under_its_own_record(tmp_path, monkeypatch):
    lake = Lake(tmp_path)
    lake.ensure()
    queued = RunStore(lake).begin("request", state="queued")
    stop = threading.Event()
    ran: list[tuple[str, str | None, str | None]] = []

    def fake_run(lake, trigger, record=None):
        ran.append((trigger, record and record.id, record and record.state))
        stop.set()
        return True

    monkeypatch.setattr(scheduler, "run_once", fake_run)
    scheduler.run_schedule(Triggers(0), lake, stop, VIEWS)
    assert ran == [("request", queued.id, "running")]


def test_a_run_left_running_by_a_killed_job_is_marked_failed_at_start(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    runs = RunStore(lake)
    left = runs.begin("interval")
    scheduler.abandon_interrupted(lake)
    record = runs.get(left.id)
    assert record is not None and record.state == "failed"
    assert record.error is not None and "interrupted" in record.error
    assert runs.active() is None


def test_a_request_queued_while_changed_views_wait_for_a_retry_is_what_runs_next(
    tmp_path, monkeypatch
):
    """A views-changed run failed and a request (`make batch`) was queued meanwhile: the retry
    runs that request (any run recomputes every view) instead of waiting behind it forever."""
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    published(lake, {"buys": VIEWS.fingerprints()["buys"]})  # "taps" changed
    runs = RunStore(lake)
    ran: list[tuple[str, str | None]] = []
    queued: list[str] = []

    def fake_run(lake, trigger, record=None):
        ran.append((trigger, record and record.id))
        if len(ran) == 1:  # the views-changed run fails; a request is queued meanwhile
            queued.append(runs.begin("manual", state="queued").id)
            return False
        published(lake, VIEWS.fingerprints())  # the request's run recomputed every view
        return True

    monkeypatch.setattr(scheduler, "run_once", fake_run)
    monkeypatch.setattr(scheduler, "RETRY_SECONDS", 0.01)
    stop = threading.Event()
    scheduler.recompute_changed_views(lake, VIEWS, stop)
    assert ran == [("views-changed", None), ("manual", queued[0])]
