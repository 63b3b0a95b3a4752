"""Starts batch runs, one at a time, in a batch job process that keeps its Spark session
(``batch_layer.worker_process``; a fresh one after a failed run): every
LAMBDA_BATCH_INTERVAL seconds, when LAMBDA_BATCH_MIN_EVENTS archived events are in no batch
version, on a request (``POST /batch/runs``), and after a view changed."""

import logging
import sys
import threading
import time

from prometheus_client import Counter, Gauge, Histogram

from batch_layer.settings import BatchSettings
from batch_layer.triggers import RETRY_SECONDS, Triggers
from batch_layer.worker import JobWorker
from common.errors import LakeError
from common.lifecycle import run_service, stop_event_on_signals
from common.model.views import Catalog, load_catalog
from common.monitoring.prometheus import BUSY
from common.storage.batch_runs import ACTIVE, RunBusy, RunRecord, RunStore, Trigger
from common.storage.lake import Lake
from common.storage.locks import exclusive

log = logging.getLogger("scheduler")

POLL_SECONDS = 0.5
RUNS = Counter(
    "lambda_batch_runs_total", "Batch runs ended, by trigger and state", ["trigger", "state"]
)
RUN_SECONDS = Histogram(
    "lambda_batch_run_seconds",
    "Duration of a batch run (archive barrier, Spark, publishing)",
    buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
RUN_EVENTS = Gauge("lambda_batch_events", "Distinct events the last published batch version covers")
LAST_SUCCESS = Gauge(
    "lambda_batch_last_success_timestamp_seconds", "When the last batch run succeeded (Unix time)"
)
RUNNING = Gauge("lambda_batch_running", "1 while a batch run runs")
INTERVAL = Gauge("lambda_batch_interval_seconds", "The batch schedule's interval; 0: off")
for _state in ("succeeded", "failed"):
    RUNS.labels("interval", _state)  # present (at 0) from the start


def observe(record: RunRecord | None, took: float) -> None:
    """A run's end in the batch metrics."""
    if record is None:
        return
    RUNS.labels(record.trigger, record.state).inc()
    RUN_SECONDS.observe(took)
    if record.state == "succeeded":
        RUN_EVENTS.set(record.events or 0)
        LAST_SUCCESS.set(time.time())


WORKER = JobWorker()
"""The batch job process the runs go to: one Spark session for all of them (a fresh one after a
run that failed), dying with the scheduler."""


def run_once(lake: Lake, trigger: Trigger, record: RunRecord | None = None) -> bool:
    """Run one batch in the worker process, recorded under ``trigger`` (or as ``record``, a
    request already marked running); True on success. Nothing runs, and False is returned,
    while another run is queued or running."""
    runs = RunStore(lake)
    if record is None:
        try:
            record = runs.begin(trigger)
        except RunBusy as exc:
            log.info("no %s batch now: run %s is queued or running", trigger, exc.run_id)
            return False
    log.info("batch run %s (%s) starting", record.id, trigger)
    started = time.monotonic()
    RUNNING.set(1)
    try:
        with BUSY.working():
            code = WORKER.run(record.id)
    finally:
        RUNNING.set(0)
    took = round(time.monotonic() - started, 3)
    ended = runs.get(record.id)
    if ended is not None and ended.state in ACTIVE:  # the job died before it could end it
        ended = ended.failed(f"the batch job exited with code {code}", took)
        runs.write(ended)
    observe(ended, took)
    if code == 0:
        log.info("batch run %s (%s) finished in %.1fs", record.id, trigger, took)
        return True
    log.error("batch run %s (%s) failed with exit code %d", record.id, trigger, code)
    return False


def run_queued(lake: Lake, record: RunRecord) -> bool:
    """Run a request already claimed (marked running), under its own record and trigger."""
    return run_once(lake, record.trigger, record)


def uncovered_earlier_generations(lake: Lake) -> bool:
    """Whether archived events of an earlier topic generation are in no batch version yet."""
    manifest = lake.read_manifest()
    return bool(lake.backlog(lake.read_generation(), manifest.covered() if manifest else {}))


def views_to_recompute(lake: Lake, catalog: Catalog) -> list[str]:
    """The views new or changed since the newest batch version. None before the first batch
    run: the speed layer then holds every event, under the current definitions only."""
    manifest = lake.read_manifest()
    return [] if manifest is None else catalog.changed(manifest.fingerprints)


def recompute_changed_views(lake: Lake, catalog: Catalog, stop: threading.Event) -> None:
    """Run a batch now if a view is new or changed; after a failure, again every
    ``RETRY_SECONDS`` until one succeeds (such a view answers 503 until then). A request
    queued meanwhile (``make batch``, ``POST /batch/runs``) is that run: every run recomputes
    every view, and a views-changed run would only be refused behind it."""
    runs = RunStore(lake)
    while changed := views_to_recompute(lake, catalog):
        log.info("views new or changed since the newest batch: %s; running a batch now", changed)
        queued = runs.claim_queued()
        ran = run_queued(lake, queued) if queued else run_once(lake, "views-changed")
        if ran or stop.wait(RETRY_SECONDS):
            return


def run_schedule(triggers: Triggers, lake: Lake, stop: threading.Event, catalog: Catalog) -> None:
    """Run batches on every trigger until ``stop`` is set, one at a time.

    At start, a batch runs at once when a view is new or changed since the newest batch
    version; with a schedule, one also runs when a previous run left archived events that no
    batch covers, so the speed layer does not carry them for long. Then every
    ``POLL_SECONDS``: a queued request (``POST /batch/runs``) first, else the interval or the
    data-size trigger when due.
    """
    abandon_interrupted(lake)
    if views_to_recompute(lake, catalog):
        recompute_changed_views(lake, catalog, stop)
    elif triggers.interval > 0 and uncovered_earlier_generations(lake):
        log.info("events archived by an earlier run are in no batch yet: running one now")
        run_once(lake, "startup-backlog")
    log.info("batch triggers: %s", triggers.describe())
    triggers.ran(ok=True, now=time.monotonic(), automatic=False)
    runs = RunStore(lake)
    while not stop.wait(POLL_SECONDS):
        queued = runs.claim_queued()
        if queued is not None:
            triggers.ran(run_queued(lake, queued), time.monotonic(), automatic=False)
            continue
        trigger = triggers.due(lake, time.monotonic())
        if trigger is not None:
            triggers.ran(run_once(lake, trigger), time.monotonic(), automatic=True)


def abandon_interrupted(lake: Lake) -> None:
    """Mark failed the runs recorded as running that no job is running (the scheduler or the
    job was killed): otherwise they would refuse every request."""
    runs = RunStore(lake)
    stale = [r for r in runs.recent() if r.state == "running"]
    if not stale:
        return
    try:
        with exclusive(lake.batch / ".lock", "batch run"):
            for record in stale:
                runs.write(record.failed("interrupted: the batch job stopped before it ended"))
    except LakeError:
        log.info("a batch job is running (make batch?): its runs stay as they are")


def schedule() -> None:
    settings = BatchSettings()
    log.info("starting with %s", settings.describe())
    catalog = load_catalog(settings.views_file)
    triggers = Triggers(settings.batch_interval, settings.batch_min_events)
    INTERVAL.set(settings.batch_interval)
    try:
        WORKER.start()  # its Spark session warms while nothing waits for it
        run_schedule(triggers, Lake(settings.data_dir), stop_event_on_signals(), catalog)
    finally:
        WORKER.close()


def main() -> int:
    return run_service("scheduler", schedule)


if __name__ == "__main__":
    sys.exit(main())
