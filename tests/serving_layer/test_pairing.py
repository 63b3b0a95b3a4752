"""Which files answer: each slice paired with its batch version, and what the answer lacks."""

import pytest

from common.model.events import Event
from common.model.views import parse_catalog
from common.storage.lake import BatchVersion, Lake
from common.storage.master import PartitionBuffer, write_master_file
from common.storage.speed_store import EARLIER
from serving_layer.pairing import resolve
from tests.support.batch_versions import publish_version
from tests.support.slices import publish_slice

CATALOG = parse_catalog(
    {"views": [{"name": "v", "event_type": "t", "granularity": "day", "metrics": {"n": "count"}}]}
)


def archive(lake: Lake, generation: int, partition: int, first: int, last: int) -> None:
    buffer = PartitionBuffer(first=first)
    for offset in range(first, last + 1):
        buffer.add(offset, Event(f"g{generation}-{offset}", "t", 0, {}).encode())
    write_master_file(lake, generation, partition, buffer)


def version(name: str, offsets: dict, events: dict | None = None) -> BatchVersion:
    return BatchVersion(
        name, "t", 0, offsets, ("v",), fingerprints=CATALOG.fingerprints(),
        partition_events=events or {},
    )  # fmt: skip


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    lake.start_generation()  # generation 2 is current; generation 1 is an earlier run
    archive(lake, 1, 0, 0, 9)
    archive(lake, 1, 1, 0, 4)
    return lake


def test_snapshots_of_an_earlier_run_are_not_served(lake):
    publish_slice(lake, CATALOG, 0, None, 6, generation=1)
    served = resolve(lake)
    assert served.slices == {}
    assert served.unreflected_archive() == 15  # nothing covers generation 1


def test_a_snapshot_of_the_earlier_generations_holds_what_no_batch_covers(lake):
    publish_slice(lake, CATALOG, EARLIER, None, 0)
    assert resolve(lake).unreflected_archive() == 0


def test_without_a_snapshot_the_archive_beyond_the_batch_is_lacking(lake):
    publish_version(lake, version("000001", {1: {0: 7}}))
    served = resolve(lake)
    assert served.newest is not None and served.newest.version == "000001"
    assert served.unreflected_archive() == 2 + 5


def test_a_collected_base_version_is_retried_not_served_as_empty(lake):
    publish_slice(lake, CATALOG, 0, "000009", 0)
    with pytest.raises(FileNotFoundError):
        resolve(lake)


def test_each_slice_is_answered_from_the_batch_version_it_is_based_on(lake):
    publish_version(lake, version("000001", {2: {0: 9, 1: 4}}, {2: {0: 10, 1: 5}}), newest=False)
    publish_version(lake, version("000002", {2: {0: 19, 1: 9}}, {2: {0: 20, 1: 10}}))
    publish_slice(lake, CATALOG, 0, "000002", 20)
    publish_slice(lake, CATALOG, 1, "000001", 7)  # still switching

    served = resolve(lake)

    newest, older = served.batch_parts()
    assert (newest.version.version, newest.complement, newest.partitions) == ("000002", True, {1})
    assert newest.condition(2) == ("NOT ((__generation = ? AND __partition IN (?)))", [2, 1])
    assert (older.version.version, older.complement) == ("000001", False)
    assert older.condition(2) == ("(__generation = ? AND __partition IN (?))", [2, 1])
    assert served.batch_events() == 20 + 5
    # partition 2: no snapshot, no batch; and all 15 archived events of generation 1
    assert served.lag({0: 25, 1: 10, 2: 3}) == 5 + 3 + 3 + 15


def test_with_every_slice_on_the_newest_version_the_batch_side_is_unfiltered(lake):
    publish_version(lake, version("000001", {2: {0: 9}}, {2: {0: 10}}))
    publish_slice(lake, CATALOG, 0, "000001", 10)
    (part,) = resolve(lake).batch_parts()
    assert part.condition(2) is None


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
