"""Ingest against its own limit: events/s accepted by ``POST /events`` (requests of 500 from 4
clients) and events/s a bare kafka-python producer with ingest's settings gets acknowledged
by the same broker in the same run (4 threads sending 500 and waiting for them, as ingest
does per request)."""

import threading
import time
from collections.abc import Callable

import httpx

from bench.queries import page_views
from common.model.events import validate_events
from common.runtime.kafka import make_producer
from common.runtime.settings import CommonSettings

CLIENTS = 4
REQUEST_EVENTS = 500


def _in_parallel(work: Callable[[float], int], seconds: float) -> float:
    """Run ``work(deadline)`` in ``CLIENTS`` threads; the events they sent, per second."""
    counts: list[int] = []
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(target=lambda: counts.append(work(deadline))) for _ in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def posted_rate(ingest_url: str, seconds: float) -> float:
    """Events/s that ``POST /events`` accepted."""
    bodies = [page_views(REQUEST_EVENTS, int(time.time() * 1000)) for _ in range(8)]

    def client(deadline: float) -> int:
        sent = 0
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < deadline:
                response = http.post(f"{ingest_url}/events", json=bodies[sent // 500 % 8])
                response.raise_for_status()
                sent += REQUEST_EVENTS
        return sent

    return _in_parallel(client, seconds)


def producer_rate(settings: CommonSettings, seconds: float) -> float:
    """Events/s a bare producer with ingest's settings got acknowledged."""
    producer = make_producer(settings)
    now = int(time.time() * 1000)
    batches = [
        validate_events(body, {}, now).events  # what ingest makes of the same request
        for body in (page_views(REQUEST_EVENTS, now) for _ in range(8))
    ]

    def sender(deadline: float) -> int:
        sent = 0
        while time.monotonic() < deadline:
            events = batches[sent // 500 % 8]
            futures = [producer.send(settings.topic, key=e.key(), value=e.encode()) for e in events]
            for future in futures:
                future.get(timeout=30)
            sent += REQUEST_EVENTS
        return sent

    try:
        return _in_parallel(sender, seconds)
    finally:
        producer.close()
