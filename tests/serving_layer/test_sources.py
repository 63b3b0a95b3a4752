"""Which files answer, and how much of the archive an old snapshot lacks."""

import pytest

from common.events import Event
from common.lake import BatchVersion, Lake, SpeedPointer
from common.master import PartitionBuffer, write_master_file
from common.views import parse_catalog
from serving_layer.sources import resolve


def archive(lake: Lake, generation: int, partition: int, first: int, last: int) -> None:
    buffer = PartitionBuffer(first=first)
    for offset in range(first, last + 1):
        buffer.add(offset, Event(f"g{generation}-{offset}", "t", 0, {}).encode())
    write_master_file(lake, generation, partition, buffer)


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    lake.start_generation()  # generation 2 is current; generation 1 is an earlier run
    archive(lake, 1, 0, 0, 9)
    archive(lake, 1, 1, 0, 4)
    return lake


def test_a_snapshot_of_an_earlier_run_lacks_what_it_had_not_read(lake):
    lake.publish_speed_pointer(SpeedPointer("000000000001", None, 1, {0: 6, 1: 5}, 11, "t"))
    served = resolve(lake)
    assert served.unreflected_archive() == 4  # offsets 6..9 of partition 0
    assert served.speed_offsets() == {}


def test_a_snapshot_of_this_run_has_folded_the_archive_in(lake):
    lake.publish_speed_pointer(SpeedPointer("000000000002", None, 2, {0: 0}, 15, "t"))
    assert resolve(lake).unreflected_archive() == 0


def test_without_a_snapshot_the_archive_beyond_the_batch_is_lacking(lake):
    version = BatchVersion("000001", "t", 8, {1: {0: 7}}, ("v",))
    lake.publish_manifest(version)
    (lake.versions / "000001").mkdir(parents=True)
    served = resolve(lake)
    assert served.batch == version
    assert served.unreflected_archive() == 2 + 5


def test_a_collected_base_version_is_retried_not_served_as_empty(lake):
    lake.publish_speed_pointer(SpeedPointer("000000000003", "000009", 2, {0: 0}, 0, "t"))
    with pytest.raises(FileNotFoundError):
        resolve(lake)


def test_a_view_newer_than_the_batch_version_is_pending_not_an_empty_answer(lake):
    catalog = parse_catalog(
        {"views": [{"name": "new_view", "event_type": "t", "granularity": "day",
                    "metrics": {"n": "count"}}]}
    )  # fmt: skip
    lake.publish_manifest(BatchVersion("000001", "t", 0, {}, ("old_view",)))
    served = resolve(lake)
    reason = served.pending(catalog.views[0], "merged")
    assert reason is not None and "make batch" in reason
    assert served.pending(catalog.views[0], "speed") is None  # no snapshot: nothing to mix
