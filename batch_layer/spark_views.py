"""Views compiled to Spark: deduplication of the master dataset and one aggregation per view."""

import os
import sys
from functools import partial
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from batch_layer.settings import BatchSettings
from common.model.ddl import ddl_of
from common.model.events import RESERVED_TYPE_PREFIX
from common.model.metric_kinds import BUCKET_COLUMN, SLICE_COLUMNS, state_columns, view_columns
from common.model.view_inputs import fed_metrics, input_batches, input_column, input_schema
from common.model.views import Metric, View
from common.storage import master

ROOT = Path(__file__).resolve().parents[1]
"""Where the project's packages are. Python workers run this interpreter and import the shared
decoding from here: the same paths in every container of the Compose stack."""


def spark_session(settings: BatchSettings) -> SparkSession:
    """A quiet session that works in UTC: ``local[N]`` in-process, or a client-mode driver
    of a standalone cluster that reaches it at ``spark_driver_host``."""
    loopback = settings.spark_driver_host in ("127.0.0.1", "localhost")
    # Python workers run this interpreter (PySpark reads the variable, not the setting).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.appName("lambda-batch")
        .master(settings.spark_master)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.executor.memory", settings.spark_executor_memory)
        .config("spark.driver.host", settings.spark_driver_host)
        .config("spark.driver.bindAddress", "127.0.0.1" if loopback else "0.0.0.0")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        # Sketch aggregation keeps hashing up to this many groups per task before it falls
        # back to sorting (Spark's default, 128, sorts every view of more than 128 groups).
        # A sketch holds about 8 bytes per distinct value it saw (16 KiB at most), so the
        # map's memory follows the task's input, not this bound, unless groups are dense.
        .config("spark.sql.objectHashAggregate.sortBased.fallbackThreshold", "200000")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .config("spark.executorEnv.PYTHONPATH", str(ROOT))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop_session() -> None:
    """Stop this process's Spark session, if it has one."""
    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def read_master(spark: SparkSession, paths: list[str]) -> DataFrame:
    """The archived records of the given files (an empty frame for none)."""
    if not paths:
        return spark.createDataFrame([], master.DDL)
    return spark.read.schema(master.DDL).parquet(*paths)


SLOT = ["generation", "partition", "offset"]
"""Where a record lies in the master dataset: in exactly one live file, so it names one row."""

BROADCAST_ROWS = 2_000_000
"""Small frames (repeated ids, losing copies) up to this many rows are broadcast to every task,
so that the 10 million rows they filter are never shuffled."""


def deduplicate(records: DataFrame) -> DataFrame:
    """One row per event id: the first received (lowest generation, then offset) wins, and
    between copies in two partitions at the same offset the lower partition, so that every
    run picks the same copy. Rejected records are skipped first, as the speed layer skips
    them.

    Only ids seen more than once are ranked: events are grouped by a 64-bit hash of their id
    (a collision only makes another id a candidate), the copies of the repeated hashes ranked
    per id, and the copies that lose dropped by an anti join. So all events are shuffled as
    one hash each, not whole."""
    is_event = F.col("rejected").isNull() & ~F.col("type").startswith(RESERVED_TYPE_PREFIX)
    events = records.where(is_event)
    hashed = events.withColumn("_hash", F.xxhash64("id"))
    repeated = hashed.groupBy("_hash").count().where(F.col("count") > 1).select("_hash")
    copies = hashed.join(_small(repeated), "_hash", "left_semi")
    first = Window.partitionBy("id").orderBy("generation", "offset", "partition")
    losers = (
        copies.withColumn("_rank", F.row_number().over(first))
        .where(F.col("_rank") > 1)
        .select(*SLOT)
    )
    return events.join(_small(losers), SLOT, "left_anti")


def _small(frame: DataFrame) -> DataFrame:
    """``frame`` kept for the run, marked for broadcast when it has few rows."""
    frame = frame.persist()
    return F.broadcast(frame) if frame.count() <= BROADCAST_ROWS else frame


def compute_view(events: DataFrame, view: View) -> DataFrame:
    """The batch view: per bucket and dimension values, every metric's mergeable state.

    Each event's group and metric inputs come from the same Python function the speed layer
    calls (``common.model.view_inputs``), run by Spark's Python workers over Arrow batches; Spark
    then aggregates them."""
    inputs = (
        events.where(F.col("type") == view.event_type)
        .select("ts", "props", "generation", "partition")
        .mapInArrow(partial(input_batches, view), ddl_of(input_schema(view)))
    )
    aggregates = [agg for m in view.metrics for agg in _aggregates(view, m)]
    keys = [BUCKET_COLUMN, *view.dimensions, *SLICE_COLUMNS]
    # Shuffled by group first: each task then holds whole groups, and sketches are built
    # once rather than as partial sketches per task that are serialized and merged.
    grouped = inputs.repartition(*keys).groupBy(*keys).agg(*aggregates)
    return grouped.select(*view_columns(view, hidden=True))


def events_by_partition(events: DataFrame) -> dict[int, dict[int, int]]:
    """Per generation and partition, the distinct events whose first copy lies there."""
    counts: dict[int, dict[int, int]] = {}
    for row in events.groupBy("generation", "partition").count().collect():
        counts.setdefault(int(row["generation"]), {})[int(row["partition"])] = int(row["count"])
    return counts


def _aggregates(view: View, metric: Metric) -> list[Column]:
    """Each state column of the metric, aggregated from its input column."""
    source = f"`{input_column(metric)}`" if metric in fed_metrics(view) else "1"
    return [F.expr(column.spark(source)).alias(column.name) for column in state_columns(metric)]
