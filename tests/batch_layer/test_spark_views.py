"""Deduplication on real Spark: the first received copy of every id wins, by generation, then
offset, then partition, whether the small frames are broadcast or shuffled."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_layer import spark_views
from batch_layer.settings import BatchSettings
from batch_layer.spark_views import deduplicate, spark_session
from common.storage.master import SCHEMA

pytestmark = pytest.mark.integration

# (id, type, generation, partition, offset, rejected)
RECORDS = [
    ("a", "t", 2, 0, 1, None),  # a later generation loses to any offset of an earlier one
    ("a", "t", 1, 3, 90, None),
    ("b", "t", 1, 1, 7, None),  # the same offset in two partitions: the lower partition wins
    ("b", "t", 1, 0, 7, None),
    ("b", "t", 1, 2, 3, None),  # ... unless a lower offset exists
    ("c", "t", 1, 0, 5, None),
    ("c", "t", 1, 0, 4, "not an event"),  # rejected copies never win
    ("d", "_lambda.marker", 1, 1, 1, None),  # the platform's own types are no events
    ("d", "t", 1, 1, 2, None),
    (None, None, 1, 2, 9, "not JSON"),
    (None, None, 1, 2, 10, "not JSON"),
    *((f"u{i}", "t", 1, i % 4, 100 + i, None) for i in range(50)),
]
FIRST = {("a", 1, 3, 90), ("b", 1, 2, 3), ("c", 1, 0, 5), ("d", 1, 1, 2)} | {
    (f"u{i}", 1, i % 4, 100 + i) for i in range(50)
}


@pytest.fixture(scope="module")
def spark():
    session = spark_session(BatchSettings(spark_master="local[1]"))
    yield session
    session.stop()


def records_frame(spark, tmp_path):
    ids, types, generations, partitions, offsets, rejected = zip(*RECORDS, strict=True)
    n = len(RECORDS)
    table = pa.table(
        [
            pa.array(ids, pa.string()),
            pa.array(types, pa.string()),
            pa.array([0] * n, pa.int64()),
            pa.array(["{}"] * n, pa.string()),
            pa.array(generations, pa.int32()),
            pa.array(partitions, pa.int32()),
            pa.array(offsets, pa.int64()),
            pa.array(rejected, pa.string()),
            pa.nulls(n, pa.binary()),
        ],
        schema=SCHEMA,
    )
    path = tmp_path / "records.parquet"
    pq.write_table(table, path)
    return spark.read.parquet(str(path))


@pytest.mark.parametrize("broadcast_rows", [spark_views.BROADCAST_ROWS, 0])
def test_the_first_received_copy_of_each_id_is_kept(spark, tmp_path, monkeypatch, broadcast_rows):
    monkeypatch.setattr(spark_views, "BROADCAST_ROWS", broadcast_rows)
    kept = deduplicate(records_frame(spark, tmp_path)).collect()
    assert {(r["id"], r["generation"], r["partition"], r["offset"]) for r in kept} == FIRST
    spark.catalog.clearCache()
