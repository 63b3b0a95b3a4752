"""GET /health: 200 when the broker can be reached."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from common.kafka import bootstrap_reachable
from ingest.openapi import HEALTH_RESPONSES
from ingest.state import StateDep

router = APIRouter(tags=["health"])


@router.get("/health", responses=HEALTH_RESPONSES)
async def health(state: StateDep) -> JSONResponse:
    bootstrap = state.settings.kafka_bootstrap
    reachable = await run_in_threadpool(bootstrap_reachable, bootstrap)
    if reachable:
        return JSONResponse({"status": "ok", "broker": bootstrap})
    return JSONResponse(
        {"status": "unavailable", "broker": bootstrap, "detail": f"cannot reach {bootstrap}"},
        status_code=503,
    )
