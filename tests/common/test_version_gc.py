"""Old batch versions go, but never the served snapshot's base nor anything newer."""

from common.lake import Lake, SpeedPointer


def make_versions(lake: Lake, count: int) -> None:
    for number in range(1, count + 1):
        (lake.versions / f"{number:06d}").mkdir(parents=True)


def pointer(base: str | None) -> SpeedPointer:
    return SpeedPointer("000000000001", base, 1, {0: 5}, 5, "2026-01-01T00:00:00Z")


def test_keeps_the_newest_and_everything_from_the_served_base_on(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    make_versions(lake, 6)
    lake.publish_speed_pointer(pointer("000002"))
    (lake.versions / "000007.tmp").mkdir()
    lake.collect_versions(keep=3)
    assert lake.published_versions() == ["000002", "000003", "000004", "000005", "000006"]
    assert not (lake.versions / "000007.tmp").exists()


def test_without_a_snapshot_only_the_newest_stay(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    make_versions(lake, 5)
    lake.collect_versions(keep=2)
    assert lake.published_versions() == ["000004", "000005"]
