"""Prometheus metrics of the HTTP services: ``GET /metrics`` and per-route request counts and
latencies. Metric names begin with ``lambda_``; each service adds its own beside these."""

import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from common.monitoring.samples import sample_key

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
BUSY_SECONDS = Counter(
    "lambda_busy_seconds_total",
    "Seconds this process spent working (not waiting for input): its utilisation is the rate",
)


class BusyClock:
    """Counts the time during which at least one piece of work is under way, in
    ``lambda_busy_seconds_total``: overlapping work (concurrent requests) counts once, as
    Flink's busy time does. ``flush`` counts the part of work still under way (a long batch
    run), so the rate stays current."""

    def __init__(self, counter: Counter, clock: Callable[[], float] = time.monotonic) -> None:
        self._counter = counter
        self._clock = clock
        self._lock = threading.Lock()
        self._depth = 0
        self._since = 0.0

    def begin(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._since = self._clock()
            self._depth += 1

    def end(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._counter.inc(self._clock() - self._since)

    def flush(self) -> None:
        with self._lock:
            if self._depth > 0:
                now = self._clock()
                self._counter.inc(now - self._since)
                self._since = now

    @contextmanager
    def working(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.end()


BUSY = BusyClock(BUSY_SECONDS)
"""This process's busy time: services wrap their work in ``BUSY.working()``."""


def registry() -> CollectorRegistry:
    """Where this service's metrics are: the process's own, or, when it runs several
    worker processes, all of theirs added up."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory and os.path.isdir(directory):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return combined
    return REGISTRY


def samples(prefix: str = "lambda_") -> dict[str, float]:
    """Every sample of the service's metrics whose name starts with ``prefix``, keyed by
    :func:`~common.monitoring.samples.sample_key`."""
    found: dict[str, float] = {}
    for family in registry().collect():
        for sample in family.samples:
            if sample.name.startswith(prefix):
                found[sample_key(sample.name, sample.labels)] = sample.value
    return found


async def metrics(request: Request) -> Response:
    """Every metric of this process (of all the service's worker processes, when it runs
    several), in Prometheus text format."""
    return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)


def instrument(app: FastAPI) -> None:
    """Serve ``GET /metrics`` (outside the OpenAPI document) and time every request."""
    app.add_route("/metrics", metrics, include_in_schema=False)

    @app.middleware("http")
    async def count_and_time(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        BUSY.begin()
        try:
            response = await call_next(request)
        finally:
            BUSY.end()
        route = request.scope.get("route")
        # The route's template (``/views/{name}``), so the label set stays bounded.
        label = getattr(route, "path", "unmatched")
        REQUESTS.labels(label, str(response.status_code)).inc()
        LATENCY.labels(label).observe(time.perf_counter() - started)
        return response
