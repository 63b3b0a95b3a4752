"""Acceptance: kill -9 of the speed layer and the archiver mid-stream loses and doubles nothing."""

import threading

import duckdb
import pytest
from conftest import wait_for
from events_factory import EventFactory

from common.timeutil import now_ms

pytestmark = pytest.mark.integration


def master_offsets(pipeline) -> list[tuple[int, int, int, int]]:
    """Per (generation, partition): rows, distinct offsets, lowest and highest offset."""
    pattern = str(pipeline.data_dir / "master" / "g=*" / "p=*" / "*.parquet")
    return duckdb.sql(
        f'SELECT generation, partition, count(*), count(DISTINCT "offset"), min("offset"), '
        f"max(\"offset\") FROM read_parquet('{pattern}') GROUP BY ALL ORDER BY ALL"
    ).fetchall()


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
    assert "speed exited unexpectedly" in pipeline.log_path.read_text()
    assert "archiver exited unexpectedly" in pipeline.log_path.read_text()

    pipeline.wait_caught_up()
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name))

    # Every (partition, offset) of the topic is archived exactly once.
    ends = pipeline.lake.read_speed_pointer().offsets  # at lag 0 these are the log ends
    generation = pipeline.lake.read_generation()

    def archived_to_end() -> bool:
        rows = {(g, p): r for g, p, *r in master_offsets(pipeline)}
        return all(
            (generation, p) in rows and rows[(generation, p)][3] == end - 1
            for p, end in ends.items()
            if end > 0
        )

    wait_for(archived_to_end, 30, "the archiver to reach the log end")
    for _generation, partition, rows, distinct, lowest, highest in master_offsets(pipeline):
        assert rows == distinct, f"partition {partition}: an offset is archived twice"
        assert lowest == 0 and highest == rows - 1, f"partition {partition}: offsets missing"
