"""Views compiled to Spark: deduplication of the master dataset and one aggregation per view."""

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from batch_layer.master_writer import INVALID_TYPE
from batch_layer.settings import BatchSettings
from common.metrics import BUCKET_COLUMN, HLL_LG_K, view_columns
from common.timeutil import GRANULARITY_MS
from common.views import Metric, View

MASTER_DDL = (
    "id string, type string, ts bigint, props string, generation int, partition int, offset bigint"
)


def spark_session(settings: BatchSettings) -> SparkSession:
    """A quiet session that works in UTC: ``local[N]`` in-process, or a client-mode driver
    of a standalone cluster that reaches it at ``spark_driver_host``."""
    loopback = settings.spark_driver_host in ("127.0.0.1", "localhost")
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
        .config("spark.sql.parquet.compression.codec", "zstd")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_master(spark: SparkSession, paths: list[str]) -> DataFrame:
    """The archived records of the given files (an empty frame for none)."""
    if not paths:
        return spark.createDataFrame([], MASTER_DDL)
    return spark.read.schema(MASTER_DDL).parquet(*paths)


def deduplicate(records: DataFrame) -> DataFrame:
    """One row per event id: the first received (lowest generation, then offset) wins."""
    first = Window.partitionBy("id").orderBy("generation", "offset")
    return (
        records.where(F.col("type") != INVALID_TYPE)
        .withColumn("_rank", F.row_number().over(first))
        .where(F.col("_rank") == 1)
        .drop("_rank")
    )


def compute_view(events: DataFrame, view: View) -> DataFrame:
    """The batch view: per bucket and dimension values, every metric's mergeable state."""
    size = GRANULARITY_MS[view.granularity]
    keyed = events.where(F.col("type") == view.event_type).select(
        (F.col("ts") - F.pmod(F.col("ts"), F.lit(size))).alias(BUCKET_COLUMN),
        *(_text(d).alias(d) for d in view.dimensions),
        *(_input(m).alias(f"_in_{m.name}") for m in view.metrics if m.field),
    )
    aggregates = [agg for m in view.metrics for agg in _aggregates(m)]
    grouped = keyed.groupBy(BUCKET_COLUMN, *view.dimensions).agg(*aggregates)
    return grouped.select(*view_columns(view))


def _text(field: str) -> Column:
    return F.get_json_object(F.col("props"), f"$.{field}")


def _input(metric: Metric) -> Column:
    assert metric.field is not None
    if metric.kind == "distinct":
        return _text(metric.field)
    return F.expr(f"try_cast(get_json_object(props, '$.{metric.field}') as double)")


def _aggregates(metric: Metric) -> list[Column]:
    name = metric.name
    value = F.col(f"_in_{name}")
    if metric.kind == "count":
        return [F.count(F.lit(1)).alias(f"{name}__count")]
    if metric.kind in ("sum", "avg"):
        return [F.sum(value).alias(f"{name}__sum"), F.count(value).alias(f"{name}__n")]
    if metric.kind == "min":
        return [F.min(value).alias(f"{name}__min")]
    if metric.kind == "max":
        return [F.max(value).alias(f"{name}__max")]
    return [F.hll_sketch_agg(value, HLL_LG_K).alias(f"{name}__hll")]
