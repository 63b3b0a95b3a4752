"""One batch run: recompute every view from the master dataset and publish a new version.

The run fixes the files it reads before it starts, so the version covers an exact offset
vector; it is written under a temporary name, renamed whole, and announced by atomically
replacing ``batch/manifest.json``.
"""

import contextlib
import logging
import os
import sys
import time
from pathlib import Path

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException

from batch_layer.archive_barrier import wait_for_archive
from batch_layer.compaction import compact
from batch_layer.settings import BatchSettings
from batch_layer.spark_views import (
    compute_view,
    deduplicate,
    events_by_partition,
    read_master,
    spark_session,
)
from common.errors import DamagedFile, LambdaError
from common.model.timeutil import utc_now_text
from common.model.views import Catalog, load_catalog
from common.runtime.logs import setup_logging
from common.storage.batch_runs import RunRecord, RunStore
from common.storage.lake import (
    VERSION_FILE,
    BatchVersion,
    Lake,
    MasterFile,
    Offsets,
    fsync_dir,
    fsync_tree,
    remove_tree,
)
from common.storage.lake_files import check_parquet, read_parquet
from common.storage.locks import exclusive
from common.storage.master import read_events
from common.storage.quarantine import coverage, quarantine
from common.storage.speed_store import oldest_base

log = logging.getLogger("batch")


class BatchError(LambdaError):
    """A batch run failed; the served version is unchanged."""


def run_batch(
    settings: BatchSettings, lake: Lake, catalog: Catalog, keep_session: bool = False
) -> BatchVersion:
    """Compute and publish one batch version; return it.

    With ``keep_session`` the Spark session outlives a run that succeeds, for the next run of
    the same process (``batch_layer.worker_process``); a failed run always stops it."""
    with exclusive(lake.batch / ".lock", "batch run", wait=True):
        started = time.monotonic()
        lake.read_generation()  # fail early, and clearly, outside a running pipeline
        wait_for_archive(settings, lake, settings.archive_wait_seconds)
        compact(lake)  # under the batch lock: no batch run reads while it deletes
        if quarantine_damaged(lake.master_files()):  # the archiver reads them again
            wait_for_archive(settings, lake, settings.archive_wait_seconds)
        files, offsets = readable_coverage(lake)
        refuse_to_shrink(lake.read_manifest(), offsets)
        version = lake.next_version()
        log.info("batch %s: reading %d master files", version, len(files))
        try:
            spark = spark_session(settings)  # a worker's kept one, if its JVM still answers
        except (Py4JError, PySparkException) as exc:
            raise BatchError(f"Spark failed to start: {spark_reason(exc)}") from exc
        failed = True
        try:
            events = deduplicate(read_master(spark, [str(f.path) for f in files]))
            by_partition = events_by_partition(events)
            count = sum(sum(parts.values()) for parts in by_partition.values())
            log.info("batch %s: %d distinct events", version, count)
            tmp = lake.versions / f"{version}.tmp"
            remove_tree(tmp)
            for index, view in enumerate(catalog.views, start=1):
                compute_view(events, view).coalesce(1).write.parquet(str(tmp / view.name))
                log.info(
                    "batch %s: view %d/%d %s written", version, index, len(catalog.views), view.name
                )
            failed = False
        except (Py4JError, PySparkException) as exc:
            damaged = quarantine_damaged(files, thorough=True)
            if damaged:
                raise BatchError(
                    f"master files cannot be read and were moved aside: {damaged} "
                    "(their offsets are archived again; the next run covers them)"
                ) from exc
            raise BatchError(f"Spark failed: {spark_reason(exc)}") from exc
        finally:
            if keep_session and not failed:
                spark.catalog.clearCache()
            else:
                spark.stop()
        published = BatchVersion(
            version=version,
            computed_at=utc_now_text(),
            events=count,
            offsets=offsets,
            views=tuple(v.name for v in catalog.views),
            duration_s=round(time.monotonic() - started, 3),
            fingerprints=catalog.fingerprints(),
            partition_events=by_partition,
        )
        (tmp / "version.json").write_bytes(VERSION_FILE.encode(published, indent=2))
        fsync_tree(tmp)
        (lake.versions / version).parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(lake.versions / version)
        fsync_dir(lake.versions)
        lake.publish_manifest(published)
        lake.collect_versions(settings.keep_versions, oldest_base(lake))
        log.info("batch %s published: %d events in %.1fs", version, count, published.duration_s)
        return published


def readable_coverage(lake: Lake) -> tuple[list[MasterFile], Offsets]:
    """The files a run reads and the offsets they cover, after moving aside every file of
    them that cannot be read (Spark must never meet one)."""
    while True:
        files, offsets = coverage(lake, lake.master_files())
        if not quarantine_damaged(files):
            return files, offsets


def quarantine_damaged(files: list[MasterFile], thorough: bool = False) -> list[str]:
    """Quarantine the files that cannot be read (their footers; if ``thorough``, every page
    and every event's properties, as Spark's workers decode them); return their paths."""
    damaged = []
    for f in files:
        try:
            if thorough:
                read_parquet(f.path)
                list(read_events(f.path))
            else:
                check_parquet(f.path)
        except DamagedFile as exc:
            quarantine(f, exc)
            damaged.append(str(f.path))
        except FileNotFoundError:
            continue
    return damaged


def refuse_to_shrink(newest: BatchVersion | None, offsets: Offsets) -> None:
    """A version never covers less of a partition than the newest one did: the speed layer
    holds only what comes after it. Offsets the chain lacks there (a master file moved
    aside and not archived again yet, or lost) fail the run, saying so."""
    if newest is None:
        return
    for generation, parts in newest.offsets.items():
        for partition, last in parts.items():
            now = offsets.get(generation, {}).get(partition, -1)
            if now < last:
                raise BatchError(
                    f"generation {generation} partition {partition}: offsets {now + 1}-{last} "
                    f"that version {newest.version} covers are not in the master dataset "
                    "(moved aside and not archived again yet, or lost: see /status; "
                    "`make accept-loss` acknowledges a loss)"
                )


def run_recorded(
    settings: BatchSettings, lake: Lake, record: RunRecord, keep_session: bool = False
) -> BatchVersion:
    """``run_batch`` over the views file as it is now, ending the run's record: succeeded with
    its version, or failed with the one-line reason (also for an unexpected exception, which
    goes on up)."""
    runs = RunStore(lake)
    started = time.monotonic()
    try:
        catalog = load_catalog(settings.views_file)
        version = run_batch(settings, lake, catalog, keep_session)
    except BaseException as exc:
        reason = str(exc) if isinstance(exc, LambdaError) else f"{type(exc).__name__}: {exc}"
        runs.write(record.failed(one_line(reason), round(time.monotonic() - started, 3)))
        raise
    runs.write(record.succeeded(version.version, version.events, version.duration_s))
    return version


def spark_reason(exc: Exception) -> str:
    """The first line of the Java exception behind a Py4J error (``java.io.IOException:
    Mkdirs failed ...``), rather than py4j's ``An error occurred while calling o138.parquet``."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return one_line(str(java.toString()))
        except Py4JError:
            pass
    return one_line(str(exc) or type(exc).__name__)


def one_line(text: str) -> str:
    return (text.strip().splitlines() or ["no reason given"])[0]


def lower_priority(niceness: int) -> None:
    """Give the streaming path priority over this run (Spark's JVM and Python workers inherit
    it). With autogroup scheduling (Linux's default on many machines, this one included) CPU
    is shared between sessions first and niceness counts only within one, so the run lowers
    its session's niceness too: under `make run` that session is the scheduler's, which only
    polls for triggers."""
    os.nice(niceness)
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(f"{niceness}\n")


def main() -> int:
    """`make batch`: run one batch now, recorded with the trigger ``manual``; exit 1 with a
    one-line reason on failure. (Scheduled runs go to ``batch_layer.worker_process``.)"""
    setup_logging("batch")
    try:
        settings = BatchSettings()
        lower_priority(settings.batch_nice)
        lake = Lake(settings.data_dir)
        lake.ensure()
        record = RunStore(lake).begin("manual", alone=False)
        version = run_recorded(settings, lake, record)
    except LambdaError as exc:
        log.error("batch run failed: %s", exc)
        return 1
    print(
        f"batch version {version.version} published: {version.events} events, "
        f"{len(version.views)} views, {version.duration_s:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
