"""Builds the serving app."""

import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import anyio
import duckdb
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from common.errors import LakeError
from common.lifecycle import freeze_startup_objects, run_http_service
from common.model.views import Catalog, load_catalog
from common.monitoring.observer import Observer
from common.monitoring.prometheus import instrument
from common.runtime.docs import ASSETS_PREFIX, DOCS_PAGE, mount_docs
from common.runtime.processes import exit_with_parent
from common.runtime.security import Policy, policy_for, secure
from common.storage.lake import Lake
from serving_layer.allow import answer_405_with_every_method
from serving_layer.deadline import Watchdog
from serving_layer.lag_probe import LagProbe
from serving_layer.pairing import resolve
from serving_layer.reduced_cache import ReducedCache
from serving_layer.rejected import RejectedIndex
from serving_layer.routes import batch_runs, health, status, views
from serving_layer.routes.dashboard import ASSETS_PATH, DASHBOARD_PAGE, mount_dashboard
from serving_layer.settings import ServingSettings
from serving_layer.state import ServingState
from serving_layer.view_docs import document_views

log = logging.getLogger("serving")


def create_app(settings: ServingSettings | None = None, catalog: Catalog | None = None) -> FastAPI:
    """The serving app for one data directory and views file."""
    settings = settings or ServingSettings()
    catalog = catalog or load_catalog(settings.views_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connection = duckdb.connect(config={"threads": 2})
        probe = LagProbe(settings)
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lag")
        app.state.serving = ServingState(
            settings,
            catalog,
            Lake(settings.data_dir),
            connection,
            probe,
            pool,
            ReducedCache(settings.serving_cache_entries),
            RejectedIndex(),
            anyio.CapacityLimiter(settings.serving_query_threads),
            Watchdog(),
        )
        monitor = Observer(app.state.serving.lake, probe, resolve, RejectedIndex()).start()
        freeze_startup_objects()  # in each worker process
        yield
        monitor.stop()
        app.state.serving.watchdog.stop()
        pool.shutdown()
        probe.close()
        connection.close()

    app = FastAPI(title="Lambda serving layer", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(views.router)
    app.include_router(health.router)
    app.include_router(status.router)
    mount_dashboard(app)
    mount_docs(app)
    instrument(app)
    app.include_router(batch_runs.router)
    document_views(app, catalog, settings.serving_max_rows)
    answer_405_with_every_method(app)
    secure(app, serving_policy(settings))

    @app.exception_handler(LakeError)
    async def lake_error(request: Request, exc: LakeError) -> JSONResponse:
        log.error("cannot read the data directory: %s", exc)
        retry = {"Retry-After": str(settings.retry_after_seconds)}
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=retry)

    return app


def serving_policy(settings: ServingSettings) -> Policy:
    """Keys and names of the serving layer: a read key reads, an admin key also starts batch
    runs. The pages (the dashboard, /docs) and their files load without a key, and ask for
    one when the data they fetch is refused."""
    return policy_for(
        "serving",
        settings,
        pages=[DASHBOARD_PAGE, DOCS_PAGE],
        public_prefixes=[ASSETS_PATH, ASSETS_PREFIX],
    )


def main() -> int:
    """Serve on LAMBDA_SERVING_PORT until stopped."""
    return run_http_service("serving", ServingSettings, create_app, "serving_layer.main:worker_app")


def worker_app() -> FastAPI:
    """The app of one of several worker processes (``LAMBDA_SERVING_PROCESSES``)."""
    exit_with_parent()
    return create_app()


if __name__ == "__main__":
    sys.exit(main())
