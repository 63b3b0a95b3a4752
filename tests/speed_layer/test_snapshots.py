"""A speed snapshot records the definitions its views were built under."""

from common.lake import Lake
from common.views import parse_catalog
from speed_layer.snapshots import SnapshotWriter
from speed_layer.speed_state import SpeedState

CATALOG = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour", "metrics": {"n": "count"}}
        ]
    }
)


def test_the_pointer_names_the_definitions_of_the_snapshot(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    written = SnapshotWriter(lake, keep=2).write(SpeedState(CATALOG), None, 1, {0: 0})
    assert written.fingerprints == CATALOG.fingerprints()
    assert lake.read_speed_pointer() == written
    assert (lake.snapshot_dir(written.snapshot) / "taps.parquet").exists()
