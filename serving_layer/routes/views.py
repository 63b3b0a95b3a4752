"""GET /views and GET /views/{name}."""

import logging
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
import duckdb
import orjson
from fastapi import APIRouter, HTTPException, Query, Response
from prometheus_client import Histogram

from common.errors import DamagedFile, LakeError
from common.storage.batch_runs import RunBusy, RunStore
from serving_layer.deadline import Deadline, QueryTimeout
from serving_layer.definitions import BATCH_SOURCES, SPEED_SOURCES
from serving_layer.freshness import meta
from serving_layer.lag_probe import ends_within
from serving_layer.merge import Merged, merge, overflow_warnings, reduce_states
from serving_layer.openapi import VIEW_RESPONSES, ViewAnswer, ViewList
from serving_layer.pairing import Served, resolve
from serving_layer.query_spec import QueryError, QuerySpec, parse_query
from serving_layer.reduced_cache import cache_key, file_part
from serving_layer.state import ServingState, StateDep

log = logging.getLogger("serving")
router = APIRouter(tags=["views"])

READ_ATTEMPTS = 3
QUERY_SECONDS = Histogram(
    "lambda_serving_query_seconds",
    "Time to answer a view query, by view (answers only; errors count in lambda_http_*)",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


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
                    lambda f=files, c=condition: reduce_states(state.duckdb, spec, f, c, deadline),
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
                            lambda g=group: reduce_states(state.duckdb, spec, g, deadline=deadline),
                        )
                    )
    return merge(state.duckdb, spec, [], reduced, deadline)


def _damaged_slice(state: ServingState, served: Served, damage: DamagedFile) -> int:
    """What a file that cannot be read does to an answer. A speed snapshot's: that slice is
    left out (its replica builds it anew; the answer takes the batch side for it, and the lag
    counts the rest). A batch version's: 503 with the reason, and a batch run is requested,
    which publishes a good version."""
    path = Path(str(damage.path))
    partition = served.slice_of(path)
    if partition is not None:
        log.warning("partition %d's snapshot left out of answers: %s", partition, damage)
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
    raise HTTPException(
        503,
        f"batch version {version} cannot be read ({damage}); {then}",
        headers={"Retry-After": str(state.settings.retry_after_seconds)},
    ) from damage


def _refuse_if_pending(state: ServingState, served: Served, spec: QuerySpec) -> None:
    """503 with Retry-After when the pair holds the view under another definition."""
    reason = served.pending(spec.view, spec.source)
    if reason is not None:
        retry_after = str(state.settings.retry_after_seconds)
        raise HTTPException(503, reason, headers={"Retry-After": retry_after})


@router.get("/views", response_model=None, responses={200: {"model": ViewList}})
def list_views(state: StateDep) -> dict[str, Any]:
    """Every view of the views file."""
    return {"views": [view.describe() for view in state.catalog.views]}


@router.get("/views/{name}", responses={200: {"model": ViewAnswer}, **VIEW_RESPONSES})
async def query_view(
    name: str,
    state: StateDep,
    start: Annotated[str | None, Query(description="RFC 3339, inclusive, on the bucket")] = None,
    end: Annotated[str | None, Query(description="RFC 3339, exclusive, on the bucket")] = None,
    granularity: Annotated[str | None, Query(description="the view's own or coarser")] = None,
    group_by: Annotated[str | None, Query(description="comma-separated dimensions")] = None,
    filter: Annotated[list[str] | None, Query(description="dimension:value, repeatable")] = None,
    source: Annotated[str | None, Query(description="merged, batch or speed")] = None,
    limit: Annotated[int | None, Query(description="rows to return")] = None,
) -> Response:
    """The view's rows, batch and speed merged exactly, with freshness in ``meta``; at most
    ``LAMBDA_SERVING_MAX_ROWS`` of them (``meta.truncated`` says whether there were more).
    The query runs on threads of its own and is cut at ``LAMBDA_SERVING_QUERY_TIMEOUT_S``
    (503 with Retry-After)."""
    started = time.perf_counter()
    deadline = Deadline(state.settings.serving_query_timeout_s, state.watchdog)
    view = state.catalog.get(name)
    if view is None:
        known = ", ".join(v.name for v in state.catalog.views)
        raise HTTPException(404, f"no view named {name!r} (views: {known})")
    try:
        spec = parse_query(
            view,
            start=start,
            end=end,
            granularity=granularity,
            group_by=group_by,
            filters=filter or [],
            source=source,
            limit=limit,
            max_rows=state.settings.serving_max_rows,
        )
    except QueryError as exc:
        raise HTTPException(
            422, [{"loc": ["query", exc.param], "msg": exc.message, "type": "value_error"}]
        ) from exc
    answer = partial(_answer, state, spec, started, deadline)
    try:
        return await anyio.to_thread.run_sync(answer, limiter=state.queries)
    except QueryTimeout as exc:
        retry_after = str(state.settings.retry_after_seconds)
        raise HTTPException(503, str(exc), headers={"Retry-After": retry_after}) from exc


def _answer(state: ServingState, spec: QuerySpec, started: float, deadline: Deadline) -> Response:
    """The answer's rows and meta: the DuckDB work, cut at the deadline (QueryTimeout)."""
    view = spec.view
    attempt = 0
    left_out: set[int] = set()  # slices whose snapshot names a file that cannot be read
    while True:
        served: Served | None = None
        try:
            served = resolve(state.lake).without(left_out)
            _refuse_if_pending(state, served, spec)
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
    elapsed = time.perf_counter() - started
    QUERY_SECONDS.labels(view.name).observe(elapsed)
    answer_meta["query_ms"] = round(elapsed * 1000, 2)
    answer = {
        "view": view.name,
        "granularity": spec.granularity,
        "rows": merged.rows,
        "meta": answer_meta,
    }
    return Response(orjson.dumps(answer), media_type="application/json")
