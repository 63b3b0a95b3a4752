"""The query path: a view query answered from the pairing that serves now. Each side is
reduced once and cached, a damaged speed snapshot leaves its slice out, files collected
while being read are read again, and the topic's end offsets are read while DuckDB merges.
The route (``routes/views.py``) parses the request into a spec and turns errors into HTTP."""

import logging
import time
from functools import partial
from pathlib import Path

import duckdb
import orjson
from prometheus_client import Histogram

from common.errors import DamagedFile, LakeError, LambdaError
from common.storage.batch_runs import RunBusy, RunStore
from common.storage.speed_store import SliceId
from serving_layer.deadline import Deadline
from serving_layer.definitions import BATCH_SOURCES, SPEED_SOURCES
from serving_layer.freshness import meta
from serving_layer.lag_probe import ends_within
from serving_layer.merge import Merged, merge, overflow_warnings, reduce_states
from serving_layer.pairing import Served, resolve
from serving_layer.query_spec import QuerySpec
from serving_layer.reduced_cache import cache_key, file_part
from serving_layer.state import ServingState

log = logging.getLogger("serving")

READ_ATTEMPTS = 3
QUERY_SECONDS = Histogram(
    "lambda_serving_query_seconds",
    "Time to answer a view query, by view (answers only; errors count in lambda_http_*)",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class Unavailable(LambdaError):
    """The view cannot be answered now but will be (503 with Retry-After): the pairing holds
    it under another definition, or its batch version cannot be read (and a run that
    publishes a new one is requested or under way)."""


def answer(state: ServingState, spec: QuerySpec, deadline: Deadline) -> bytes:
    """The answer's body, its rows and meta: the DuckDB work, cut at the deadline
    (QueryTimeout); Unavailable when the pairing cannot answer the view now. It blocks: the
    caller runs it on a query thread. ``deadline`` began when the request came, so the time a
    query waits for a thread counts against it and in ``query_ms``."""
    view = spec.view
    attempt = 0
    left_out: set[SliceId] = set()  # slices whose snapshot names a file that cannot be read
    while True:
        served: Served | None = None
        try:
            served = resolve(state.lake).without(left_out)
            _refuse_if_pending(served, spec)
            # The log end is read after the pointer (so lag never understates) and while
            # DuckDB merges, so the two waits overlap.
            ends = state.lag_pool.submit(state.lag_probe.ends)
            merged = _merge(state, spec, served, deadline)
            break
        except DamagedFile as exc:
            if served is None:
                raise  # the pairing itself cannot be read: 503 (main.lake_error)
            left_out.add(_damaged_slice(state, served, exc))
        except (duckdb.IOException, FileNotFoundError) as exc:
            # A snapshot or version was collected between resolving and reading it.
            attempt += 1
            if attempt == READ_ATTEMPTS:
                raise LakeError(f"the served files kept changing: {exc}") from exc
    end_offsets = ends_within(ends, state.settings.serving_lag_wait_ms / 1000)
    lag = None if end_offsets is None else served.lag(end_offsets)
    answer_meta = meta(served, lag, spec.source)
    answer_meta["truncated"] = merged.truncated
    answer_meta["warnings"] = overflow_warnings(view, merged.overflowed)
    elapsed = time.monotonic() - deadline.started
    QUERY_SECONDS.labels(view.name).observe(elapsed)
    answer_meta["query_ms"] = round(elapsed * 1000, 2)
    body = {
        "view": view.name,
        "granularity": spec.granularity,
        "rows": merged.rows,
        "meta": answer_meta,
    }
    return orjson.dumps(body)


def _merge(state: ServingState, spec: QuerySpec, served: Served, deadline: Deadline) -> Merged:
    """Merge, reducing each batch part once per (version, slices, query) and each slice's
    sealed speed segments, and its open one, once per query and set of files, and reusing
    them: only what changed since the last query is read."""
    reduced = []
    cache = state.reduced_cache
    if spec.source in BATCH_SOURCES:
        for part in served.batch_parts():
            files = served.batch_files(part, spec.view.name)
            condition = part.condition(served.generation)
            reduced.append(
                cache.get(
                    "batch",
                    cache_key(part.key(served.generation), spec),
                    partial(reduce_states, state.duckdb, spec, files, condition, deadline),
                )
            )
    if spec.source in SPEED_SOURCES:
        for files in served.speed_slices(spec.view.name):
            # A slice's sealed segments change together and seldom, its open one often.
            for group in (files[:-1], files[-1:]):
                if group:
                    reduced.append(
                        cache.get(
                            "speed",
                            cache_key(tuple(file_part(f) for f in group), spec),
                            partial(reduce_states, state.duckdb, spec, group, deadline=deadline),
                        )
                    )
    return merge(state.duckdb, spec, [], reduced, deadline)


def _damaged_slice(state: ServingState, served: Served, damage: DamagedFile) -> SliceId:
    """What a file that cannot be read does to an answer. A speed snapshot's: that slice is
    left out (its replica builds it anew; the answer takes the batch side for it, and the lag
    counts the rest). A batch version's: Unavailable with the reason (503), and a batch run
    is requested, which publishes a good version."""
    path = Path(str(damage.path))
    partition = served.slice_of(path)
    if partition is not None:
        log.warning("partition %s's snapshot left out of answers: %s", partition, damage)
        return partition
    if not path.is_relative_to(state.lake.versions):
        raise damage
    version = path.relative_to(state.lake.versions).parts[0]
    if served.newest is not None and version < served.newest.version:
        then = f"the speed layer is switching to version {served.newest.version}"
    else:
        try:
            run = RunStore(state.lake).begin("request", state="queued").id
        except RunBusy as busy:
            run = busy.run_id
        then = f"batch run {run} publishes a new one"
    raise Unavailable(f"batch version {version} cannot be read ({damage}); {then}") from damage


def _refuse_if_pending(served: Served, spec: QuerySpec) -> None:
    """Unavailable when the pair holds the view under another definition."""
    reason = served.pending(spec.view, spec.source)
    if reason is not None:
        raise Unavailable(reason)
