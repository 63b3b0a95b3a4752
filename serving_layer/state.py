"""What the serving app holds for its lifetime: settings, catalog, DuckDB, the lag probe."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated

import anyio
import duckdb
from fastapi import Depends, Request

from common.model.views import Catalog
from common.storage.lake import Lake
from serving_layer.deadline import Watchdog
from serving_layer.lag_probe import LagProbe
from serving_layer.reduced_cache import ReducedCache
from serving_layer.rejected import RejectedIndex
from serving_layer.settings import ServingSettings


@dataclass
class ServingState:
    settings: ServingSettings
    catalog: Catalog
    lake: Lake
    duckdb: duckdb.DuckDBPyConnection
    lag_probe: LagProbe
    lag_pool: ThreadPoolExecutor
    reduced_cache: ReducedCache
    rejected: RejectedIndex
    queries: anyio.CapacityLimiter
    """The threads queries run on: apart from those of /health and /status."""
    watchdog: Watchdog


async def get_state(request: Request) -> ServingState:
    """Async, so that resolving it never takes a thread (they may all be running queries)."""
    return request.app.state.serving


StateDep = Annotated[ServingState, Depends(get_state)]
