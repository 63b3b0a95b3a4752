"""Old batch versions go, but never the oldest base of a served slice nor anything newer."""

from common.model.views import parse_catalog
from common.storage.lake import Lake
from common.storage.speed_store import oldest_base
from tests.support.slices import publish_slice

CATALOG = parse_catalog(
    {"views": [{"name": "v", "event_type": "t", "granularity": "day", "metrics": {"n": "count"}}]}
)


def make_versions(lake: Lake, count: int) -> None:
    for number in range(1, count + 1):
        (lake.versions / f"{number:06d}").mkdir(parents=True)


def test_keeps_the_newest_and_everything_from_the_oldest_served_base_on(lake):
    make_versions(lake, 6)
    publish_slice(lake, CATALOG, 0, "000005", 5)
    publish_slice(lake, CATALOG, 1, "000002", 5)  # still on an older version
    publish_slice(lake, CATALOG, 2, None, 5)
    (lake.versions / "000007.tmp").mkdir()
    assert oldest_base(lake) == "000002"
    lake.collect_versions(keep=3, oldest_served=oldest_base(lake))
    assert lake.published_versions() == ["000002", "000003", "000004", "000005", "000006"]
    assert not (lake.versions / "000007.tmp").exists()


def test_without_a_snapshot_only_the_newest_stay(lake):
    make_versions(lake, 5)
    lake.collect_versions(keep=2, oldest_served=oldest_base(lake))
    assert lake.published_versions() == ["000004", "000005"]
