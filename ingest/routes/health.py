"""GET /health: 200 when the broker can be reached."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ingest.openapi import HEALTH_RESPONSES
from ingest.state import StateDep

router = APIRouter(tags=["health"])


@router.get("/health", responses=HEALTH_RESPONSES)
async def health(state: StateDep) -> JSONResponse:
    """The broker's reachability as last observed (at most a second ago): answered on the
    event loop at once, whatever the broker and the requests are doing."""
    bootstrap = state.settings.kafka_bootstrap
    if state.broker.reachable:
        return JSONResponse({"status": "ok", "broker": bootstrap})
    return JSONResponse(
        {"status": "unavailable", "broker": bootstrap, "detail": f"cannot reach {bootstrap}"},
        status_code=503,
    )
