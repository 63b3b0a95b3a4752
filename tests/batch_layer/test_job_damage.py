"""A batch run never hands Spark a master file that cannot be read, and never covers less
than the version before it."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_layer.job import BatchError, quarantine_damaged, readable_coverage, refuse_to_shrink
from common.model.events import Event
from common.storage.lake import BatchVersion, Lake
from common.storage.master import PartitionBuffer, events_of, write_master_file
from common.storage.quarantine import quarantined


def _write(lake: Lake, first: int, last: int) -> None:
    buffer = PartitionBuffer(first=first)
    for offset in range(first, last + 1):
        buffer.add(offset, Event(f"e{offset}", "t", offset, {}).encode())
    write_master_file(lake, 1, 0, buffer)


def test_a_damaged_file_is_moved_aside_before_spark_reads(tmp_path):
    lake = Lake(tmp_path)
    for first in (0, 10, 20):
        _write(lake, first, first + 9)
    lake.master_path(1, 0, 10, 19).write_bytes(b"PAR1 and then nothing")
    files, offsets = readable_coverage(lake)
    assert [(f.first, f.last) for f in files] == [(0, 9)]
    assert offsets == {1: {0: 9}}
    assert [q.range.first for q in quarantined(lake)] == [10]


def test_a_version_covering_less_than_the_newest_fails_saying_why():
    newest = BatchVersion("000004", "t", 30, {1: {0: 29}}, ())
    refuse_to_shrink(newest, {1: {0: 29}})
    refuse_to_shrink(newest, {1: {0: 40}})
    refuse_to_shrink(None, {})
    with pytest.raises(BatchError, match="offsets 10-29 that version 000004 covers"):
        refuse_to_shrink(newest, {1: {0: 9}})


def _garble_props(path) -> None:
    """Rewrite a master file with a props text that is not JSON: a readable Parquet file
    whose content is damaged."""
    table = pq.read_table(path)
    index = table.schema.get_field_index("props")
    props = pa.array(["{not json"] * table.num_rows, table.schema.field(index).type)
    pq.write_table(table.set_column(index, table.schema.field(index), props), path)


def test_a_file_whose_properties_are_not_json_is_quarantined_not_a_crash(tmp_path):
    lake = Lake(tmp_path)
    for first in (0, 10):
        _write(lake, first, first + 9)
    _garble_props(lake.master_path(1, 0, 10, 19))
    files = lake.master_files()
    assert quarantine_damaged(files) == []  # its footer and pages read
    assert quarantine_damaged(files, thorough=True) == [str(lake.master_path(1, 0, 10, 19))]
    assert [q.range.first for q in quarantined(lake)] == [10]
    _write(lake, 20, 29)
    _garble_props(lake.master_path(1, 0, 20, 29))
    garbled = next(f for f in lake.master_files() if f.first == 20)
    assert events_of(garbled) is None  # the speed layer's read: quarantined, not raised
    assert sorted(q.range.first for q in quarantined(lake)) == [10, 20]
