"""Run the benchmarks against a pipeline of their own and print the figures.

Targets (issue 2): event to visible p99 < 1 s at 5,000 events/s; a merged query over a day of
minute buckets p99 < 50 ms.
"""

import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.freshness import event_to_visible
from bench.queries import DAY_MS, seed_day, time_queries
from bench.stats import summary_ms
from runner.client import wait_caught_up
from tests.launcher import ROOT, launched

RATE = 5_000
SECONDS = 20


def caught_up(serving_url: str) -> None:
    with httpx.Client(timeout=30) as client:
        answer = wait_caught_up(client, serving_url, "page_views_by_page", {"limit": "1"}, 120)
    if answer["meta"]["speed"]["lag"] != 0:
        raise TimeoutError("the speed layer did not catch up within 120 s")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lambda-bench-") as scratch:
        base = Path(scratch)
        with launched(base, base / "data", ROOT / "views.yaml") as pipeline:
            print(f"event to visible at {RATE} events/s for {SECONDS}s ...", flush=True)
            latencies = event_to_visible(pipeline.ingest_url, pipeline.serving_url, RATE, SECONDS)
            print(f"  event to visible: {summary_ms(latencies)}  (target p99 < 1000 ms)")

            day = (int(time.time() * 1000) // DAY_MS - 2) * DAY_MS
            print("seeding a day of page views (100,000 in batch, 20,000 in speed) ...", flush=True)
            seed_day(pipeline.ingest_url, day, 100_000, "batch")
            caught_up(pipeline.serving_url)
            subprocess.run(
                [sys.executable, "-m", "batch_layer.job"],
                env=pipeline.env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            seed_day(pipeline.ingest_url, day, 20_000, "speed")
            caught_up(pipeline.serving_url)
            start = datetime.fromtimestamp(day / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            end = datetime.fromtimestamp((day + DAY_MS) / 1000, tz=UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            one_series = time_queries(
                pipeline.serving_url, {"start": start, "end": end, "group_by": ""}, 200
            )
            print(
                f"  a day of minute buckets, 1,440 rows: {summary_ms(one_series[0])}"
                f"  (target p99 < 50 ms; in the server: {summary_ms(one_series[1])})"
            )
            by_page = time_queries(pipeline.serving_url, {"start": start, "end": end}, 50)
            print(
                f"  the same by page, 17,280 rows: {summary_ms(by_page[0])}"
                f"  (in the server: {summary_ms(by_page[1])})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
