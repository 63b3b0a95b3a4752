"""Acceptance: kill -9 of the speed layer and the archiver mid-stream loses and doubles nothing."""

import threading

import pytest
from events_factory import EventFactory

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

# Runs against the local pipeline (make test) and the Compose stack (make test-containers).
pytestmark = [pytest.mark.integration, pytest.mark.stack]


def master_offsets(pipeline) -> list[tuple[int, int, int, int, int, int]]:
    """Per (generation, partition): rows, distinct offsets, lowest and highest offset."""
    return pipeline.sql(
        'SELECT generation, partition, count(*), count(DISTINCT "offset"), min("offset"), '
        "max(\"offset\") FROM read_parquet('{data}/master/g=*/p=*/*.parquet') "
        "GROUP BY ALL ORDER BY ALL"
    )


def test_kill_9_mid_stream_recovers_exactly(pipeline, ledger, truth):
    factory = EventFactory(seed=9, prefix="crash", now_ms=now_ms())
    stop = threading.Event()
    posts = []

    def stream() -> None:
        while not stop.is_set():
            ledger.post(pipeline, factory.with_duplicates(factory.batch(200), rate=0.02))
            posts.append(1)

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        wait_for(lambda: len(posts) >= 5, 30, "the stream to start")
        pipeline.kill9("speed")
        during = len(posts)
        pipeline.kill9("archiver")
        wait_for(lambda: len(posts) >= during + 10, 30, "more events after the kills")
    finally:
        stop.set()
        streamer.join()
    assert pipeline.restarts("speed") >= 1
    assert pipeline.restarts("archiver") >= 1

    pipeline.wait_caught_up()
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name))

    # Every (partition, offset) of the topic is archived exactly once.
    wait_for(lambda: pipeline.health()["archive"]["lag"] == 0, 30, "the archive to catch up")
    offsets = master_offsets(pipeline)
    assert sum(rows for _g, _p, rows, *_ in offsets) >= len(ledger.events)
    for _generation, partition, rows, distinct, lowest, highest in offsets:
        assert rows == distinct, f"partition {partition}: an offset is archived twice"
        assert lowest == 0 and highest == rows - 1, f"partition {partition}: offsets missing"
