"""POST /events."""

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram

from common.errors import BrokerError
from common.model.timeutil import now_ms
from ingest.check_pool import CheckerGone
from ingest.checking import Refused, too_large
from ingest.openapi import RESPONSES, request_body
from ingest.publisher import EventTooLarge
from ingest.state import StateDep

EVENTS = Counter(
    "lambda_ingest_events_total",
    "Events posted, by outcome: accepted, invalid (refused with their request), too_large, "
    "broker_unavailable",
    ["outcome"],
)
for _outcome in ("accepted", "invalid", "too_large", "broker_unavailable"):
    EVENTS.labels(_outcome)  # present (at 0) from the start
PRODUCE_SECONDS = Histogram(
    "lambda_ingest_produce_seconds",
    "Time from sending a request's events to the broker's acknowledgement of all of them",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def build_router(
    numeric_fields: dict[str, set[str]], max_events: int, max_body_bytes: int
) -> APIRouter:
    """POST /events, documented with the request body these views and limits accept."""
    router = APIRouter(tags=["events"])
    router.add_api_route(
        "/events",
        post_events,
        methods=["POST"],
        status_code=202,
        responses=RESPONSES,
        openapi_extra=request_body(numeric_fields, max_events, max_body_bytes),
    )
    return router


async def post_events(request: Request, state: StateDep) -> JSONResponse:
    """Accept events once the broker has acknowledged all of them; all or nothing."""
    settings = state.settings
    try:
        body = await _read_body(request, settings.max_body_bytes)
        checked = await state.checker.check(
            body,
            request.headers.get("content-type", ""),
            state.numeric_fields,
            settings.max_events,
            now_ms(),
        )
    except Refused as exc:
        if exc.events:
            EVENTS.labels(exc.outcome).inc(exc.events)
        return JSONResponse(exc.body, status_code=exc.status)
    except CheckerGone as exc:
        return JSONResponse(
            {"detail": f"{exc}; retry the request", "ids": []},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_seconds)},
        )
    ids = checked.ids
    started = time.perf_counter()
    try:
        await run_in_threadpool(state.publisher.publish, checked.records)
    except EventTooLarge as exc:
        EVENTS.labels("too_large").inc(len(ids))
        return JSONResponse({"detail": str(exc), "index": None}, status_code=413)
    except BrokerError as exc:
        EVENTS.labels("broker_unavailable").inc(len(ids))
        return _unavailable(str(exc), ids, settings.retry_after_seconds)
    PRODUCE_SECONDS.observe(time.perf_counter() - started)
    EVENTS.labels("accepted").inc(len(ids))
    return JSONResponse({"accepted": len(ids), "ids": ids}, status_code=202)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"the body is {int(declared)} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _unavailable(reason: str, ids: list[str], retry_after: int) -> JSONResponse:
    body: dict[str, Any] = {
        "detail": f"{reason}. Retry with the same ids (listed here) to avoid double counting.",
        "ids": ids,
    }
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(retry_after)})
