"""The batch layer against its own limit: seconds for the batch job (Spark, in the
scheduler's long-lived worker process) to recompute every view over archived events, and for
DuckDB to run the same aggregations (deduplicated by id, first received wins) over the same
master files, writing its results as Parquet too."""

import os
import random
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from batch_layer.worker import JobWorker
from bench.queries import PAGES
from common.model.views import Catalog, Metric, View
from common.storage.batch_runs import RunStore
from common.storage.lake import Lake
from common.storage.master import SCHEMA, write_table
from runner.launcher import ROOT, free_port

PARTITIONS = 4
FILE_EVENTS = 250_000
COUNTRIES = ["NL", "DE", "FR", "BE", "ES", "IT", "US", "GB"]


def archive(lake: Lake, count: int, seed: int = 1) -> None:
    """``count`` web-shop events (one in ten a purchase) as master files of one generation,
    ``FILE_EVENTS`` to a file, dealt over the partitions; about 1% are duplicates."""
    lake.ensure()
    generation = lake.start_generation()
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    per_partition = count // PARTITIONS
    for partition in range(PARTITIONS):
        for first in range(0, per_partition, FILE_EVENTS):
            size = min(FILE_EVENTS, per_partition - first)
            rows = [_event(rng, partition, first + i, now) for i in range(size)]
            ids, types, tss, props = zip(*rows, strict=True)
            table = pa.table(
                [
                    pa.array(ids, pa.string()),
                    pa.array(types, pa.string()),
                    pa.array(tss, pa.int64()),
                    pa.array(props, pa.string()),
                    pa.array([generation] * size, pa.int32()),
                    pa.array([partition] * size, pa.int32()),
                    pa.array(range(first, first + size), pa.int64()),
                    pa.nulls(size, pa.string()),
                    pa.nulls(size, pa.binary()),
                ],
                schema=SCHEMA,
            )
            path = lake.master_path(generation, partition, first, first + size - 1)
            write_table(path, table)


def _event(rng: random.Random, partition: int, offset: int, now: int) -> tuple:
    number = rng.randrange(10**12) if rng.random() > 0.01 else offset % 1000  # 1% repeat
    ts = now - rng.randrange(7 * 86_400_000)
    user = f"user-{rng.randrange(50_000)}"
    if rng.random() < 0.9:
        props = f'{{"page":"{PAGES[offset % len(PAGES)]}","user_id":"{user}"}}'
        return f"e{partition}-{number}", "page_view", ts, props
    amount = round(rng.lognormvariate(3.5, 0.8), 2)
    country = COUNTRIES[offset % len(COUNTRIES)]
    props = f'{{"country":"{country}","amount":{amount},"user_id":"{user}"}}'
    return f"e{partition}-{number}", "purchase", ts, props


def spark_seconds(data_dir: Path, views_file: Path) -> tuple[float, float]:
    """The batch job's wall time over the archive, twice, on every core at normal priority,
    in the worker process the scheduler runs its batches in: its first run (a fresh JVM, as
    ``make batch`` and a scheduler's first run) and the next (every later scheduled run: the
    same Spark session, warm), each recomputing every view from every file."""
    env = {
        **os.environ,
        "LAMBDA_DATA_DIR": str(data_dir),
        "LAMBDA_VIEWS_FILE": str(views_file),
        "LAMBDA_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # no broker: nothing to wait for
        "LAMBDA_ARCHIVE_WAIT_SECONDS": "0",
        "LAMBDA_SPARK_MASTER": f"local[{os.cpu_count() or 1}]",
        "LAMBDA_BATCH_NICE": "0",
        "LAMBDA_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    runs = RunStore(Lake(data_dir))
    worker = JobWorker(env)
    taken = []
    try:
        for _ in range(2):
            record = runs.begin("interval")
            started = time.monotonic()
            if worker.run(record.id) != 0:
                raise RuntimeError(f"batch run {record.id} failed: {runs.get(record.id)}")
            taken.append(time.monotonic() - started)
    finally:
        worker.close()
    return taken[0], taken[1]


def duckdb_seconds(lake: Lake, catalog: Catalog, out: Path) -> float:
    """DuckDB's time for the same views over the same files: deduplicate once, then one
    aggregation per view written as Parquet."""
    files = [str(f.path) for f in lake.master_files()]
    started = time.monotonic()
    with duckdb.connect() as connection:
        connection.execute(
            "CREATE TEMP TABLE events AS SELECT id, type, ts, props FROM read_parquet(?) "
            "WHERE rejected IS NULL "
            'QUALIFY row_number() OVER (PARTITION BY id ORDER BY generation, "offset", '
            "partition) = 1",
            [files],
        )
        for view in catalog.views:
            path = out / f"{view.name}.parquet"
            connection.execute(f"COPY ({view_sql(view)}) TO '{path}' (FORMAT parquet)")
    return time.monotonic() - started


def view_sql(view: View) -> str:
    """One view's aggregation in DuckDB over ``events`` (the baseline's cost, not its meaning:
    a ``where`` is not applied, and quantiles are DuckDB's own approximation)."""
    size = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}[view.granularity]
    dims = [f"json_extract_string(props, '$.{d}') AS \"{d}\"" for d in view.dimensions]
    metrics = [_metric_sql(m) for m in view.metrics]
    return (
        f"SELECT ts - ts % {size} AS bucket, {', '.join(dims + metrics)} FROM events "
        f"WHERE type = '{view.event_type}' GROUP BY ALL"
    )


def _metric_sql(metric: Metric) -> str:
    value = f"json_extract_string(props, '$.{metric.field}')"
    number = f"TRY_CAST({value} AS DOUBLE)"
    return {
        "count": "count(*)",
        "sum": f"sum({number})",
        "avg": f"avg({number})",
        "min": f"min({number})",
        "max": f"max({number})",
        "distinct": f"approx_count_distinct({value})",
        "quantiles": f"approx_quantile({number}, [0.5, 0.9, 0.99])",
    }[metric.kind] + f' AS "{metric.name}"'
