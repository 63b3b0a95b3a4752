"""Event to visible: post at a steady rate, watch the merged answer's event count grow."""

import threading
import time
from dataclasses import dataclass

import httpx

from bench.queries import page_views


@dataclass
class Sent:
    started: float
    total_after: int


def post_steadily(ingest_url: str, rate: int, seconds: float, request_size: int) -> list[Sent]:
    """Post ``rate`` events a second in requests of ``request_size``; return what was sent."""
    interval = request_size / rate
    sent: list[Sent] = []
    total = 0
    now = int(time.time() * 1000)
    with httpx.Client(timeout=30) as client:
        next_at = time.monotonic()
        end = next_at + seconds
        while next_at < end:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the load, not synchronisation
            events = page_views(request_size, now)
            started = time.monotonic()
            response = client.post(f"{ingest_url}/events", json=events)
            response.raise_for_status()
            total += request_size
            sent.append(Sent(started, total))
            next_at += interval
    return sent


def counted(client: httpx.Client, serving_url: str) -> int:
    """Distinct events the merged answer counts right now."""
    url = f"{serving_url}/views/page_views_by_page"
    meta = client.get(url, params={"limit": 1}).json()["meta"]
    return meta["batch"]["events"] + meta["speed"]["events"]


def watch_counts(serving_url: str, stop: threading.Event, samples: list[tuple[float, int]]) -> None:
    """Append (time, merged event count) samples until ``stop``."""
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            samples.append((time.monotonic(), counted(client, serving_url)))


def event_to_visible(ingest_url: str, serving_url: str, rate: int, seconds: float) -> list[float]:
    """Seconds from the start of each POST until the merged answer counts its events."""
    stop = threading.Event()
    samples: list[tuple[float, int]] = []
    watcher = threading.Thread(target=watch_counts, args=(serving_url, stop, samples))
    watcher.start()
    try:
        sent = post_steadily(ingest_url, rate, seconds, request_size=max(1, rate // 20))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            not samples or samples[-1][1] < sent[-1].total_after
        ):
            time.sleep(0.05)
    finally:
        stop.set()
        watcher.join()
    return [_visible_after(item, samples) - item.started for item in sent]


def _visible_after(item: Sent, samples: list[tuple[float, int]]) -> float:
    for moment, count in samples:
        if moment >= item.started and count >= item.total_after:
            return moment
    return float("inf")
