"""GET /health: whether the layer can answer, and how fresh each stage is."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from common.errors import LakeError
from serving_layer.freshness import meta
from serving_layer.health import archive_status, partitions_status, replicas_status
from serving_layer.lag_probe import ends_within
from serving_layer.openapi import HEALTH_RESPONSES, Health
from serving_layer.pairing import resolve
from serving_layer.state import StateDep

router = APIRouter(tags=["health"])
BROKER_SEEN_S = 5.0


@router.get("/health", responses={200: {"model": Health}, **HEALTH_RESPONSES})
def health(state: StateDep) -> JSONResponse:
    """200 with the freshness of every stage (archive, batch, speed) and the records of the
    topic that are not events (``rejected``); 503 if the data cannot be read. It waits for
    the broker at most ``LAMBDA_SERVING_LAG_WAIT_MS`` (then its lags are null) and runs on
    threads queries never take."""
    try:
        served = resolve(state.lake)
    except (LakeError, FileNotFoundError) as exc:
        return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
    # Never longer than an answer waits for its lag; a broker that hangs is one whose last
    # read is older than BROKER_SEEN_S.
    ends = ends_within(
        state.lag_pool.submit(state.lag_probe.ends), state.settings.serving_lag_wait_ms / 1000
    )
    lag = served.lag(ends) if ends is not None else None
    body: dict[str, Any] = {
        "status": "ok",
        "broker": ends is not None or state.lag_probe.read_within(BROKER_SEEN_S),
        **meta(served, lag, "merged"),
        "partitions": partitions_status(served),
        "replicas": replicas_status(state.lake),
        "archive": archive_status(state.lake, served.generation, ends),
        "rejected": state.rejected.summary(state.lake.master_files()),
    }
    body.pop("source")
    return JSONResponse(body)
