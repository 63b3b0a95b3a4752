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

from bench.batch_vs_duckdb import archive, duckdb_seconds, spark_seconds
from bench.freshness import event_to_visible
from bench.ingest_rate import CLIENTS, REQUEST_EVENTS, posted_rate, producer_rate
from bench.memory import services_peak_mb
from bench.queries import DAY_MS, seed_day, time_direct, time_queries
from bench.report import RESULTS, table
from bench.speed_scaling import speed_scaling
from bench.stats import percentile, summary_ms
from common.model.views import load_catalog
from common.runtime.settings import CommonSettings
from common.storage.lake import Lake
from runner.client import wait_caught_up
from runner.launcher import ROOT, launched

RATE = 5_000
FRESHNESS_SECONDS = 180
BATCH_INTERVAL = 30
SPEED_EVENTS = 300_000
HELD_EVENTS = 1_000_000
INGEST_SECONDS = 20
BATCH_EVENTS = 10_000_000
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


def batch(base: Path) -> dict[str, Any]:
    """The batch job against DuckDB over the same archived events."""
    lake = Lake(base / "data")
    print(f"batch: archiving {BATCH_EVENTS:,} events as master files ...", flush=True)
    archive(lake, BATCH_EVENTS)
    print("  recomputing every view with Spark (the batch job), then with DuckDB ...", flush=True)
    cold, spark = spark_seconds(lake.root, ROOT / "views.yaml")
    out = base / "duckdb"
    out.mkdir()
    duck = duckdb_seconds(lake, load_catalog(ROOT / "views.yaml"), out)
    ratio = spark / duck
    print(
        f"  Spark {spark:.1f}s as a scheduled run ({cold:.1f}s for the first, a fresh JVM), "
        f"DuckDB {duck:.1f}s: {ratio:.1f} times ({cold / duck:.1f} for the first)"
    )
    return {
        "name": "batch",
        "figures": {
            "events": BATCH_EVENTS,
            "spark_s": round(spark, 1),
            "spark_first_run_s": round(cold, 1),
            "duckdb_s": round(duck, 1),
            "ratio": round(ratio, 1),
            "first_run_ratio": round(cold / duck, 1),
        },
        "target": "Spark (a scheduled run) at most 8 times DuckDB",
        "met": ratio <= 8,
    }


def queries(base: Path) -> dict[str, Any]:
    with launched(base, base / "data", ROOT / "views.yaml") as pipeline:
        day = (int(time.time() * 1000) // DAY_MS - 2) * DAY_MS
        print(
            "seeding a day of page views of 100 pages (100,000 in batch, 20,000 in speed) ...",
            flush=True,
        )
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
        merged, in_server = time_queries(
            pipeline.serving_url, {"start": start, "end": end, "group_by": ""}, 200
        )
        lake = Lake(pipeline.data_dir)
        version = lake.read_manifest()
        assert version is not None, "the pipeline published no batch version"
        files = sorted(lake.view_dir(version.version, "page_views_by_page").glob("*.parquet"))
        direct = time_direct(files, day, day + DAY_MS, 200)
    p99, direct_p99 = percentile(merged, 0.99), percentile(direct, 0.99)
    ratio = p99 / direct_p99
    print(
        f"  a day of minute buckets, 1,440 rows: merged over HTTP {summary_ms(merged)} (in the "
        f"server {summary_ms(in_server)}); DuckDB straight over the batch files "
        f"{summary_ms(direct)}; p99 ratio {ratio:.1f}"
    )
    return {
        "name": "query",
        "figures": {
            "p50_ms": round(percentile(merged, 0.5) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1),
            "server_p99_ms": round(percentile(in_server, 0.99) * 1000, 1),
            "duckdb_p50_ms": round(percentile(direct, 0.5) * 1000, 1),
            "duckdb_p99_ms": round(direct_p99 * 1000, 1),
            "ratio": round(ratio, 1),
        },
        "target": "p99 < 50 ms and at most 3 times one direct DuckDB query",
        "met": p99 < 0.05 and ratio <= 3,
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


BENCHES = {"ingest": ingest, "freshness": freshness, "speed": speed, "batch": batch}
BENCHES["query"] = queries


def main(names: list[str]) -> int:
    """Every benchmark, or those named (``python -m bench batch query``): their rows replace
    the rows of the same name in ``latest.json``. The memory row needs freshness and speed."""
    unknown = set(names) - set(BENCHES) - {"memory"}
    if unknown:
        print(f"error: no benchmark {sorted(unknown)}; there are {list(BENCHES)}", file=sys.stderr)
        return 2
    chosen = [name for name in BENCHES if not names or name in names]
    rows = []
    for name in chosen:
        with tempfile.TemporaryDirectory(prefix="lambda-bench-") as scratch:
            rows.append(BENCHES[name](Path(scratch)))
    if {"freshness", "speed"} <= set(chosen):
        rows.append(memory())
    print("\n" + table(rows))
    kept = []
    if names and RESULTS.exists():
        ran = {row["name"] for row in rows}
        kept = [r for r in json.loads(RESULTS.read_text())["rows"] if r["name"] not in ran]
    order = [*BENCHES, "memory"]
    merged = sorted(kept + rows, key=lambda row: order.index(row["name"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "rows": merged}, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
