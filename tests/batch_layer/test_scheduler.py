"""The scheduler catches up on archive an earlier run left outside every batch, and
recomputes views that are new or changed since the newest batch version."""

import threading

import pytest

from batch_layer import scheduler
from batch_layer.scheduler import uncovered_earlier_generations, views_to_recompute
from common.events import Event
from common.lake import BatchVersion, Lake
from common.master import PartitionBuffer, write_master_file
from common.views import parse_catalog


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
    monkeypatch.setattr(scheduler, "run_once", lambda: runs.append("run") or True)
    stop = threading.Event()
    stop.set()
    published(lake, VIEWS.fingerprints())
    scheduler.run_schedule(interval, lake, stop, VIEWS)
    assert runs == []
    published(lake, {"buys": VIEWS.fingerprints()["buys"]})
    scheduler.run_schedule(interval, lake, stop, VIEWS)
    assert runs == ["run"]
