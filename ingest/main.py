"""Builds the ingest app."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from common.lifecycle import run_service
from common.views import Catalog, load_catalog
from ingest.publisher import Publisher
from ingest.routes import events, health
from ingest.settings import IngestSettings
from ingest.state import IngestState


def create_app(settings: IngestSettings | None = None, catalog: Catalog | None = None) -> FastAPI:
    """The ingest app for one broker and views file."""
    settings = settings or IngestSettings()
    catalog = catalog or load_catalog(settings.views_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        publisher = Publisher(settings, settings.ack_timeout_seconds)
        app.state.ingest = IngestState(
            settings, catalog, catalog.numeric_fields_by_type(), publisher
        )
        yield
        publisher.close()

    app = FastAPI(title="Lambda ingest API", lifespan=lifespan)
    numeric_fields = catalog.numeric_fields_by_type()
    app.include_router(
        events.build_router(numeric_fields, settings.max_events, settings.max_body_bytes)
    )
    app.include_router(health.router)
    return app


def serve() -> None:
    """Serve on LAMBDA_INGEST_PORT until stopped."""
    settings = IngestSettings()
    app = create_app(settings)
    uvicorn.run(app, host=settings.ingest_host, port=settings.ingest_port, log_level="warning")


def main() -> int:
    return run_service("ingest", serve)


if __name__ == "__main__":
    sys.exit(main())
