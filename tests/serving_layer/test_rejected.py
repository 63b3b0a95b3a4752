"""The count of rejected records in /health: read once per file, a bounded number per call."""

from batch_layer.compaction import compact
from common.model.events import Event
from common.storage.lake import Lake
from common.storage.master import PartitionBuffer, write_master_file
from serving_layer import rejected
from serving_layer.rejected import RejectedIndex


def test_rejected_records_are_counted_a_bounded_number_of_new_files_per_call(tmp_path, monkeypatch):
    monkeypatch.setattr(rejected, "NEW_FILES_PER_CALL", 2)
    lake = Lake(tmp_path)
    for first in range(0, 10, 2):
        buffer = PartitionBuffer(first=first)
        buffer.add(first, None)
        buffer.add(first + 1, b"not json")
        write_master_file(lake, 1, 0, buffer)
    index = RejectedIndex()
    files = lake.master_files()
    counts = []
    for _ in range(4):
        summary = index.summary(files)
        counts.append((summary["count"], summary["files_read"]))
    assert counts == [(4, 2), (8, 4), (10, 5), (10, 5)]
    assert summary["files"] == 5
    assert [r["offset"] for r in summary["recent"]] == list(range(10))
    assert all(r["reason"] for r in summary["recent"])


def test_files_no_longer_listed_are_forgotten_so_the_index_stays_bounded(tmp_path):
    lake = Lake(tmp_path)
    for first in range(0, 6, 2):
        buffer = PartitionBuffer(first=first)
        buffer.add(first, None)
        buffer.add(first + 1, Event(f"e{first}", "t", 0, {}).encode())
        write_master_file(lake, 1, 0, buffer)
    index = RejectedIndex()
    assert index.summary(lake.master_files())["count"] == 3
    assert index.files_held() == 3
    compact(lake, small=100, target=100, grace_s=0.0)  # three files merged into one
    listed = lake.master_files()
    assert len(listed) == 1
    summary = index.summary(listed)
    assert (summary["count"], summary["files_read"], summary["files"]) == (3, 1, 1)
    assert index.files_held() == 1
    assert index.summary([])["count"] == 0 and index.files_held() == 0
