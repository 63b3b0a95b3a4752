"""GET /health: 200 when the broker can be reached."""

import socket

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ingest.state import StateDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(state: StateDep) -> JSONResponse:
    bootstrap = state.settings.kafka_bootstrap
    reachable = await run_in_threadpool(_reachable, bootstrap)
    if reachable:
        return JSONResponse({"status": "ok", "broker": bootstrap})
    return JSONResponse(
        {"status": "unavailable", "broker": bootstrap, "detail": f"cannot reach {bootstrap}"},
        status_code=503,
    )


def _reachable(bootstrap: str, timeout_s: float = 1.0) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False
