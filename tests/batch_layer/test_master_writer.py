"""Master-dataset files: named by offset range, published whole, invalid records kept as data."""

import pyarrow.parquet as pq

from batch_layer.master_writer import (
    INVALID_TYPE,
    MASTER_SCHEMA,
    PartitionBuffer,
    remove_partial_files,
    write_master_file,
)
from common.events import Event
from common.lake import Lake, contiguous_coverage


def test_a_buffer_becomes_one_file_named_by_its_range(tmp_path):
    lake = Lake(tmp_path)
    buffer = PartitionBuffer(first=10)
    for offset in range(10, 15):
        buffer.add(
            offset, Event(f"e{offset}", "purchase", 1_000 + offset, {"amount": offset}).encode()
        )
    path = write_master_file(lake, 3, 2, buffer)
    assert path == lake.master_path(3, 2, 10, 14)
    table = pq.read_table(path)
    assert table.schema.equals(MASTER_SCHEMA)
    assert table.column("offset").to_pylist() == [10, 11, 12, 13, 14]
    assert table.column("generation").to_pylist() == [3] * 5
    assert table.column("props").to_pylist()[0] == '{"amount":10}'
    assert [f.path for f in lake.master_files(3)] == [path]
    assert not list(path.parent.glob(".*"))


def test_records_that_are_not_events_are_archived_as_invalid(tmp_path):
    buffer = PartitionBuffer(first=0)
    buffer.add(0, b"not json")
    buffer.add(1, Event("ok", "page_view", 5, {}).encode())
    path = write_master_file(Lake(tmp_path), 1, 0, buffer)
    rows = pq.read_table(path).to_pylist()
    assert rows[0]["type"] == INVALID_TYPE and rows[0]["props"] == "not json"
    assert rows[1]["id"] == "ok"


def test_files_chain_into_coverage_and_partial_files_are_removed(tmp_path):
    lake = Lake(tmp_path)
    for first, last in [(0, 4), (5, 9)]:
        buffer = PartitionBuffer(first=first)
        for offset in range(first, last + 1):
            buffer.add(offset, Event(f"x{offset}", "t", offset, {}).encode())
        write_master_file(lake, 1, 0, buffer)
    partial = lake.master_dir(1, 0) / ".00000000000000000010-00000000000000000012.parquet.tmp"
    partial.write_bytes(b"half a file")
    assert remove_partial_files(lake, 1) == 1
    assert not partial.exists()
    files, offsets = contiguous_coverage(lake.master_files())
    assert len(files) == 2
    assert offsets == {1: {0: 9}}
