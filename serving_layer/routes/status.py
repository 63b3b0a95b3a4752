"""GET /status: the pipeline stage by stage, as the monitor last observed it."""

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from common.model.timeutil import parse_rfc3339
from common.monitoring.observer import read_status
from serving_layer.state import StateDep

router = APIRouter(tags=["health"])

STALE_AFTER_S = 10.0


@router.get("/status")
def status(state: StateDep) -> JSONResponse:
    """Per stage (ingest, broker, archiver, speed layer with each replica, batch, serving):
    up or down, throughput (events/s; serving: queries/s), latency (p50 and p99 ms), lag,
    utilisation (the fraction of time busy); the bottleneck now and why; the freshness of
    both layers; warnings. 503 while the monitor has not observed the pipeline yet."""
    found = read_status(state.lake)
    retry = {"Retry-After": str(state.settings.retry_after_seconds)}
    if found is None:
        return JSONResponse(
            {"detail": "the monitor has not observed the pipeline yet"}, 503, headers=retry
        )
    age = time.time() - parse_rfc3339(found["generated_at"]) / 1000
    if age > STALE_AFTER_S:
        return JSONResponse(
            {"detail": f"the monitor's last observation is {age:.0f} s old"}, 503, headers=retry
        )
    return JSONResponse(found)
