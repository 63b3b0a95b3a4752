"""Run the benchmarks against pipelines of their own, print one table, write it to
``bench/results/latest.json``.

Rows: ingest's events/s against a bare producer's (ratio at least 0.7); event to visible at
5,000 events/s with batch runs publishing during it (p99 < 1 s, max < 2 s); speed-layer
throughput with 1, 2 and 4 replicas over 4 partitions against a bare consumer (ratio at
least 0.5); merged queries over a day of minute buckets (p99 < 50 ms); peak memory of every
service during the freshness run and of a speed replica holding 1 million events (< 500 MB).
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.freshness import event_to_visible
from bench.ingest_rate import CLIENTS, REQUEST_EVENTS, posted_rate, producer_rate
from bench.memory import services_peak_mb
from bench.queries import DAY_MS, seed_day, time_queries
from bench.report import RESULTS, table
from bench.speed_scaling import speed_scaling
from bench.stats import percentile, summary_ms
from common.settings import CommonSettings
from runner.client import wait_caught_up
from tests.launcher import ROOT, launched

RATE = 5_000
FRESHNESS_SECONDS = 180
BATCH_INTERVAL = 30
SPEED_EVENTS = 300_000
HELD_EVENTS = 1_000_000
INGEST_SECONDS = 20
SERVICES = ("ingest", "archiver", "speed", "scheduler", "serving")


def caught_up(serving_url: str) -> None:
    with httpx.Client(timeout=30) as client:
        answer = wait_caught_up(client, serving_url, "page_views_by_page", {"limit": "1"}, 120)
    if answer["meta"]["speed"]["lag"] != 0:
        raise TimeoutError("the speed layer did not catch up within 120 s")


def freshness(base: Path) -> dict[str, Any]:
    """Event to visible while the scheduler publishes a batch version every 30 s or so."""
    env = {"LAMBDA_BATCH_INTERVAL": str(BATCH_INTERVAL)}
    with launched(base, base / "data", ROOT / "views.yaml", extra_env=env) as pipeline:
        print(
            f"event to visible at {RATE} events/s for {FRESHNESS_SECONDS}s, batch runs every "
            f"{BATCH_INTERVAL}s ...",
            flush=True,
        )
        latencies = event_to_visible(
            pipeline.ingest_url, pipeline.serving_url, RATE, FRESHNESS_SECONDS
        )
        runs = httpx.get(f"{pipeline.serving_url}/batch/runs", timeout=30).json()["runs"]
        PEAKS.update(services_peak_mb(pipeline.data_dir, SERVICES))
    published = [r for r in runs if r["state"] == "succeeded"]
    p99, worst = percentile(latencies, 0.99), max(latencies)
    print(f"  {summary_ms(latencies)}; {len(published)} batch versions published meanwhile")
    return {
        "name": "freshness",
        "figures": {
            "p50_ms": round(percentile(latencies, 0.5) * 1000),
            "p99_ms": round(p99 * 1000),
            "max_ms": round(worst * 1000),
            "batch_versions_published": len(published),
        },
        "target": "p99 < 1000 ms, max < 2000 ms, with batch runs publishing",
        "met": p99 < 1 and worst < 2 and bool(published),
    }


PEAKS: dict[str, float | None] = {}
"""Peak resident MB of each service in the freshness run, and of a replica holding
``HELD_EVENTS`` in the speed run: the memory row."""


def ingest(base: Path) -> dict[str, Any]:
    """POST /events against a bare producer with ingest's settings, on the same broker."""
    with launched(base, base / "data", ROOT / "views.yaml") as pipeline:
        print(
            f"ingest: {CLIENTS} clients posting {REQUEST_EVENTS} events a request for "
            f"{INGEST_SECONDS}s, then a bare producer the same way ...",
            flush=True,
        )
        posted = posted_rate(pipeline.ingest_url, INGEST_SECONDS)
        settings = CommonSettings(kafka_bootstrap=pipeline.env["LAMBDA_KAFKA_BOOTSTRAP"])
        bare = producer_rate(settings, INGEST_SECONDS)
    ratio = posted / bare
    print(f"  POST /events {posted:,.0f} events/s; bare producer {bare:,.0f} ({ratio:.2f})")
    return {
        "name": "ingest",
        "figures": {"post_events_per_s": round(posted), "bare_producer_per_s": round(bare)}
        | {"ratio": round(ratio, 2)},
        "target": "at least 0.7 of a bare kafka-python producer with the same settings",
        "met": ratio >= 0.7,
    }


def speed(base: Path) -> dict[str, Any]:
    print(f"speed layer: folding {SPEED_EVENTS:,} events with 1, 2, 4 replicas ...", flush=True)
    found = speed_scaling(base, SPEED_EVENTS, (1, 2, 4), hold=HELD_EVENTS)
    rates, restart = found.rates, found.restart_s
    PEAKS[f"speed holding {found.held:,} events"] = found.peak_mb
    for name, rate in rates.items():
        print(f"  {name}: {rate:,.0f} events/s")
    print(
        f"  a replica restarted over {SPEED_EVENTS:,} events since the last batch serves again "
        f"after {restart:.1f}s (process start included)"
    )
    ratio = rates["1 replica(s)"] / rates["bare consumer"]
    return {
        "name": "speed",
        "figures": {name: round(rate) for name, rate in rates.items()}
        | {"ratio": round(ratio, 2), "restart_s": round(restart, 1)},
        "target": "1 replica at least 0.5 of the bare consumer; grows with replicas up to 2 cores",
        "met": ratio >= 0.5 and rates["2 replica(s)"] > rates["1 replica(s)"],
    }


def queries(base: Path) -> dict[str, Any]:
    with launched(base, base / "data", ROOT / "views.yaml") as pipeline:
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
        start, end = _rfc3339(day), _rfc3339(day + DAY_MS)
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
    p99 = percentile(one_series[0], 0.99)
    return {
        "name": "query",
        "figures": {
            "p50_ms": round(percentile(one_series[0], 0.5) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1),
            "by_page_p99_ms": round(percentile(by_page[0], 0.99) * 1000, 1),
        },
        "target": "p99 < 50 ms (a day of minute buckets)",
        "met": p99 < 0.05,
    }


def memory() -> dict[str, Any]:
    """The peaks the freshness and speed runs recorded."""
    held = next(mb for name, mb in PEAKS.items() if name.startswith("speed holding"))
    for name, mb in PEAKS.items():
        print(f"  peak resident memory, {name}: {mb} MB")
    return {
        "name": "memory",
        "figures": {f"{name}_mb": mb for name, mb in PEAKS.items()},
        "target": f"speed layer under 500 MB holding {HELD_EVENTS:,} events since the last batch",
        "met": held is not None and held < 500,
    }


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def main() -> int:
    rows = []
    for bench in (ingest, freshness, speed, queries):
        with tempfile.TemporaryDirectory(prefix="lambda-bench-") as scratch:
            rows.append(bench(Path(scratch)))
    rows.append(memory())
    print("\n" + table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
