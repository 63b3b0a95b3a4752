"""Builds the ingest app."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from common.lifecycle import freeze_startup_objects, run_http_service
from common.model.views import Catalog, load_catalog
from common.monitoring.prometheus import instrument
from common.runtime.docs import ASSETS_PREFIX, DOCS_PAGE, mount_docs
from common.runtime.processes import exit_with_parent
from common.runtime.security import INGEST_PATHS, Policy, policy_for, secure
from ingest.body import NDJSON_TYPES
from ingest.broker_watch import BrokerWatch
from ingest.check_pool import CheckPool
from ingest.publisher import Publisher
from ingest.routes import events, health
from ingest.settings import IngestSettings
from ingest.state import IngestState

EVENTS_PATH = "/events"


def create_app(settings: IngestSettings | None = None, catalog: Catalog | None = None) -> FastAPI:
    """The ingest app for one broker and views file."""
    settings = settings or IngestSettings()
    catalog = catalog or load_catalog(settings.views_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        publisher = Publisher(settings, settings.ack_timeout_seconds)
        broker = BrokerWatch(settings.kafka_bootstrap).start()
        checker = CheckPool(settings.ingest_check_processes)
        app.state.ingest = IngestState(
            settings, catalog, catalog.numeric_fields_by_type(), publisher, broker, checker
        )
        freeze_startup_objects()  # in each worker process
        yield
        checker.close()
        broker.stop()
        publisher.close()

    app = FastAPI(title="Lambda ingest API", lifespan=lifespan, docs_url=None, redoc_url=None)
    numeric_fields = catalog.numeric_fields_by_type()
    app.include_router(
        events.build_router(numeric_fields, settings.max_events, settings.max_body_bytes)
    )
    app.include_router(health.router)
    mount_docs(app)
    instrument(app)
    secure(app, ingest_policy(settings))
    return app


def ingest_policy(settings: IngestSettings) -> Policy:
    """Keys, names and media types of the ingest API: an ingest key may post events, and
    ``POST /events`` takes JSON or NDJSON only (a browser may send ``text/plain`` anywhere
    without a preflight; JSON it must ask for)."""
    return policy_for(
        "ingest",
        settings,
        ingest_paths=INGEST_PATHS,
        content_types={("POST", EVENTS_PATH): ["application/json", *NDJSON_TYPES]},
        pages=[DOCS_PAGE],
        public_prefixes=[ASSETS_PREFIX],
    )


def main() -> int:
    """Serve on LAMBDA_INGEST_PORT until stopped."""
    return run_http_service("ingest", IngestSettings, create_app, "ingest.main:worker_app")


def worker_app() -> FastAPI:
    """The app of one of several worker processes (``LAMBDA_INGEST_PROCESSES``)."""
    exit_with_parent()
    return create_app()


if __name__ == "__main__":
    sys.exit(main())
