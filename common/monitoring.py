"""Prometheus metrics of the HTTP services: ``GET /metrics`` and per-route request counts and
latencies. Metric names begin with ``lambda_``; each service adds its own beside these."""

import os
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""Set when a service runs several worker processes: each writes its metrics there."""

REQUESTS = Counter(
    "lambda_http_requests_total", "HTTP requests by route and status", ["route", "status"]
)
LATENCY = Histogram(
    "lambda_http_request_seconds",
    "Time to answer an HTTP request, by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


async def metrics(request: Request) -> Response:
    """Every metric of this process (of all the service's worker processes, when it runs
    several), in Prometheus text format."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def instrument(app: FastAPI) -> None:
    """Serve ``GET /metrics`` (outside the OpenAPI document) and time every request."""
    app.add_route("/metrics", metrics, include_in_schema=False)

    @app.middleware("http")
    async def count_and_time(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route's template (``/views/{name}``), so the label set stays bounded.
        label = getattr(route, "path", "unmatched")
        REQUESTS.labels(label, str(response.status_code)).inc()
        LATENCY.labels(label).observe(time.perf_counter() - started)
        return response
