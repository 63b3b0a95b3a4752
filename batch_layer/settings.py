"""Settings of the archiver, the batch job and its scheduler."""

import os

from pydantic import Field

from common.runtime.settings import CommonSettings


class BatchSettings(CommonSettings):
    """Environment variables of the batch layer (prefix ``LAMBDA_``)."""

    batch_interval: float = Field(default=300, ge=0, description="0 turns the schedule off")
    batch_min_events: int = Field(
        default=0,
        ge=0,
        description="run a batch when this many archived events are in no version; 0: off",
    )
    archive_flush_seconds: float = Field(
        default=1.0, gt=0, description="longest time the archiver buffers before writing a file"
    )
    archive_max_records: int = Field(
        default=200_000, ge=1, description="most records the archiver buffers before writing"
    )
    spark_master: str = Field(
        default=f"local[{max(1, (os.cpu_count() or 2) - 1)}]",
        description="local[N] in-process (default: all cores but one, the streaming path's), "
        "or spark://host:port of a standalone cluster",
        json_schema_extra={"doc_default": "local[N], N = cores - 1, at least 1"},
    )
    spark_driver_memory: str = Field(
        default="2g",
        description="the Spark driver's memory: the scheduler's batch worker keeps its JVM "
        "between runs (in-process, its whole session; on a cluster, the driver only)",
        json_schema_extra={"compose_default": "1g"},
    )
    spark_executor_memory: str = Field(
        default="1g", description="memory of each executor on a standalone cluster"
    )
    spark_driver_host: str = Field(
        default="127.0.0.1",
        description="the name the cluster's executors reach the driver at (client mode)",
    )
    batch_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="niceness of a batch run (Spark included): the streaming path goes first",
    )
    keep_versions: int = Field(default=3, ge=1, description="batch versions kept on disk")
    archive_wait_seconds: float = Field(
        default=30, ge=0, description="how long a batch waits for the archiver to catch up"
    )
