"""Speed-layer files that cannot be read (a truncated segment, an emptied pointer): the
partition is built anew from its batch version and the log, while the pipeline runs and
across a restart of the speed layer (`kill -9`); answers never 500 and end exact."""

import pytest
from conftest import GroundTruth, Ledger, launch
from events_factory import EventFactory
from stacks import LocalPipeline

from common.model.timeutil import now_ms
from common.storage.speed_store import SliceStore, read_pointers
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def assert_exact(pipeline: LocalPipeline, truth: GroundTruth) -> None:
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name))


def truncate_a_segment(pipeline: LocalPipeline, partition: int) -> str:
    pointer = read_pointers(pipeline.lake, 1)[partition]
    store = SliceStore(pipeline.lake, 1, partition)
    name = sorted(n for n in pointer.names() if ".ids." not in n)[0]
    store.path(name).write_bytes(store.path(name).read_bytes()[:10])
    return name


def readable(pipeline: LocalPipeline, partition: int) -> bool:
    pointer = read_pointers(pipeline.lake, 1).get(partition)
    store = SliceStore(pipeline.lake, 1, partition)
    return pointer is not None and store.damaged(pointer) is None


def test_damaged_speed_files_are_built_anew(tmp_path):
    ledger = Ledger()
    truth = GroundTruth(ledger)
    factory = EventFactory(seed=33, prefix="damaged-speed", now_ms=now_ms())
    with launch(tmp_path, tmp_path / "data") as pipeline:
        ledger.post(pipeline, factory.batch(600))
        pipeline.wait_caught_up()

        # while it runs: the replica notices within seconds and rebuilds the partition
        truncate_a_segment(pipeline, 0)
        response = pipeline.client.get(f"{pipeline.serving_url}/views/revenue_by_country")
        assert response.status_code == 200, response.text
        wait_for(lambda: readable(pipeline, 0), 60, "partition 0 built anew")
        ledger.post(pipeline, factory.batch(100))
        pipeline.wait_caught_up()
        assert_exact(pipeline, truth)

        # across a restart: damaged while the replica is frozen, then it is killed
        pipeline.pause("speed")
        truncate_a_segment(pipeline, 2)
        SliceStore(pipeline.lake, 1, 1).pointer_path.write_bytes(b"")
        assert pipeline.client.get(f"{pipeline.serving_url}/health").status_code == 200
        pipeline.kill9("speed")
        ledger.post(pipeline, factory.batch(100))
        wait_for(lambda: readable(pipeline, 1) and readable(pipeline, 2), 90, "rebuilt")
        pipeline.wait_caught_up()
        assert_exact(pipeline, truth)
