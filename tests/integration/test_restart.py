"""`make run` again on the same data directory: the bundled broker starts empty, yet the
answers keep every event archived before, through the speed layer and then the batch."""

import pytest
from conftest import GroundTruth, Ledger, launch
from events_factory import EventFactory

from common.model.timeutil import now_ms

pytestmark = pytest.mark.integration


def assert_exact(pipeline, truth, source: str = "merged") -> None:
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name, source=source))


def test_a_second_run_keeps_what_the_first_archived(tmp_path):
    data_dir = tmp_path / "data"
    ledger = Ledger()
    truth = GroundTruth(ledger)
    factory = EventFactory(seed=77, prefix="restart", now_ms=now_ms())

    with launch(tmp_path, data_dir) as first:
        ledger.post(first, factory.batch(600))
        first.wait_caught_up()
        assert_exact(first, truth)
    assert first.lake.read_generation() == 1

    with launch(tmp_path, data_dir) as second:
        assert second.lake.read_generation() == 2
        second.wait_caught_up()
        assert_exact(second, truth)  # generation 1, from the master dataset via the speed layer
        ledger.post(second, factory.with_duplicates(factory.batch(400), rate=0.05))
        second.wait_caught_up()
        assert_exact(second, truth)
        version = second.run_batch()
        second.wait_caught_up(version=version)
        assert_exact(second, truth)
        assert_exact(second, truth, source="batch")
        assert set(second.lake.read_manifest().offsets) == {1, 2}
