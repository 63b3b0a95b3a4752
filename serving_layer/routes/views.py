"""GET /views and GET /views/{name}: the request parsed into a query spec, answered by
``serving_layer.query`` on a query thread, its errors turned into HTTP answers."""

from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Query, Response

from serving_layer.deadline import Deadline, QueryTimeout
from serving_layer.openapi import VIEW_RESPONSES, ViewAnswer, ViewList
from serving_layer.query import Unavailable, answer
from serving_layer.query_spec import QueryError, parse_query
from serving_layer.state import StateDep

router = APIRouter(tags=["views"])


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
    granularity: Annotated[
        str | None, Query(description="the view's own or coarser: minute, hour, day, week, month")
    ] = None,
    group_by: Annotated[str | None, Query(description="comma-separated dimensions")] = None,
    filter: Annotated[list[str] | None, Query(description="dimension:value, repeatable")] = None,
    source: Annotated[str | None, Query(description="merged, batch or speed")] = None,
    limit: Annotated[int | None, Query(description="rows to return")] = None,
    metrics: Annotated[str | None, Query(description="comma-separated metrics")] = None,
    order_by: Annotated[
        str | None, Query(description="comma-separated metrics or dimensions, -name descending")
    ] = None,
    tz: Annotated[
        str | None, Query(description="IANA time zone of day, week and month buckets")
    ] = None,
    quantiles: Annotated[
        str | None, Query(description="comma-separated fractions for quantiles metrics")
    ] = None,
) -> Response:
    """The view's rows, batch and speed merged exactly, with freshness in ``meta``; at most
    ``LAMBDA_SERVING_MAX_ROWS`` of them (``meta.truncated`` says whether there were more).
    The query runs on threads of its own and is cut at ``LAMBDA_SERVING_QUERY_TIMEOUT_S``
    (503 with Retry-After)."""
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
            metrics=metrics,
            order_by=order_by,
            tz=tz,
            quantiles=quantiles,
        )
        body = await anyio.to_thread.run_sync(
            partial(answer, state, spec, deadline), limiter=state.queries
        )
    except QueryError as exc:  # a bad parameter, or one the rows turn out too many for
        raise HTTPException(
            422, [{"loc": ["query", exc.param], "msg": exc.message, "type": "value_error"}]
        ) from exc
    except (QueryTimeout, Unavailable) as exc:
        retry_after = str(state.settings.retry_after_seconds)
        raise HTTPException(503, str(exc), headers={"Retry-After": retry_after}) from exc
    return Response(body, media_type="application/json")
