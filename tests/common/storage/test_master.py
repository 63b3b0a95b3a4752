"""Master-dataset files: named by offset range, published whole, rejected records kept as data."""

import pyarrow as pa
import pyarrow.parquet as pq

from common.model.events import Event
from common.model.views import parse_catalog
from common.storage.lake import Lake, contiguous_coverage
from common.storage.master import (
    SCHEMA,
    PartitionBuffer,
    Rejected,
    read_events,
    rejected_records,
    remove_partial_files,
    write_master_file,
)
from speed_layer.slice_state import SliceState
from tests.support.shop_views import purchase_view


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
    assert table.schema.equals(SCHEMA)
    assert table.column("offset").to_pylist() == [10, 11, 12, 13, 14]
    assert table.column("generation").to_pylist() == [3] * 5
    assert table.column("props").to_pylist()[0] == '{"amount":10}'
    assert [f.path for f in lake.master_files(3)] == [path]
    assert not list(path.parent.glob(".*"))


def test_records_that_are_not_events_are_kept_as_rejected(tmp_path):
    buffer = PartitionBuffer(first=0)
    buffer.add(0, b"not json")
    buffer.add(1, Event("ok", "page_view", 5, {}).encode())
    buffer.add(2, None)
    buffer.add(3, b'{"id": 5, "type": "t", "ts": 1, "props": {}}')
    assert buffer.rejected == 3
    path = write_master_file(Lake(tmp_path), 1, 0, buffer)
    rows = pq.read_table(path).to_pylist()
    assert rows[0]["raw"] == b"not json" and "not JSON" in rows[0]["rejected"]
    assert rows[0]["id"] is None and rows[0]["type"] is None
    assert rows[1]["id"] == "ok" and rows[1]["rejected"] is None and rows[1]["raw"] is None
    assert rows[2]["raw"] is None and "null record" in rows[2]["rejected"]
    assert [e.id for e in read_events(path)] == ["ok"]
    assert [(r.offset, r.partition) for r in rejected_records(path)] == [(0, 0), (2, 0), (3, 0)]


def old_format_file(tmp_path, ids, types, props, partition=0):
    """A master file as the archiver wrote them before rejected records had columns."""
    count = len(ids)
    old = pa.table(
        {
            "id": ids,
            "type": types,
            "ts": list(range(count)),
            "props": props,
            "generation": pa.array([1] * count, pa.int32()),
            "partition": pa.array([partition] * count, pa.int32()),
            "offset": list(range(count)),
        }
    )
    path = tmp_path / "old.parquet"
    pq.write_table(old, path)
    return path


def test_files_of_the_old_format_read_their_invalid_rows_as_rejected(tmp_path):
    path = old_format_file(
        tmp_path, ["_invalid:0", "a"], ["_invalid", "purchase"], ["garbage", '{"amount":1}'], 2
    )
    assert [(e.id, e.props) for e in read_events(path)] == [("a", {"amount": 1})]
    assert [e.id for e in read_events(path, start=2)] == []
    assert rejected_records(path) == [Rejected(1, 2, 0, "not an event")]


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


def test_archived_props_that_ingest_would_refuse_read_without_crashing(tmp_path):
    """Files written before records were checked strictly may hold nested or non-object
    properties: both layers read them with the same functions, as nulls or no properties."""
    path = old_format_file(
        tmp_path,
        ["a", "b"],
        ["purchase", "purchase"],
        ['{"country": {"x": 1}, "amount": [1]}', '"not an object"'],
    )
    events = list(read_events(path))
    assert [e.props for e in events] == [{"country": {"x": 1}, "amount": [1]}, {}]
    view = purchase_view("v", "hour", ["country"])
    state = SliceState(parse_catalog({"views": [view]}), None)
    for event in events:
        state.apply(event)
    [row] = state.views["v"].to_table().to_pylist()
    assert row["country"] is None and row["orders__count"] == 2 and row["revenue__n"] == 0
