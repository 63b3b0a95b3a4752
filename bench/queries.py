"""Merged query latency over a day of minute buckets, in a batch version and in the speed views,
against one direct DuckDB query over the batch version's Parquet."""

import time
import uuid
from pathlib import Path

import duckdb
import httpx

DAY_MS = 86_400_000
PAGES = [f"/p/{i}" for i in range(12)]
QUERY_PAGES = [f"/q/{i}" for i in range(100)]
"""The query benchmark's dimension values: 100."""


def page_views(count: int, now_ms: int) -> list[dict]:
    """``count`` page views as ``POST /events`` takes them: new ids, over the last hour."""
    return [
        {
            "id": str(uuid.uuid4()),
            "type": "page_view",
            "ts": now_ms - i % 3_600_000,
            "page": PAGES[i % len(PAGES)],
            "user_id": f"u{i % 997}",
        }
        for i in range(count)
    ]


def seed_day(ingest_url: str, day_start_ms: int, count: int, prefix: str) -> None:
    """Post ``count`` page views spread over the day."""
    with httpx.Client(timeout=60) as client:
        for start in range(0, count, 5_000):
            events = [
                {
                    "id": f"{prefix}-{uuid.uuid4()}",
                    "type": "page_view",
                    "ts": day_start_ms + (i * 7_919) % DAY_MS,
                    "page": QUERY_PAGES[i % len(QUERY_PAGES)],
                    "user_id": f"u{i % 5_003}",
                }
                for i in range(start, min(count, start + 5_000))
            ]
            client.post(f"{ingest_url}/events", json=events).raise_for_status()


def time_queries(
    serving_url: str, params: dict[str, str], repeat: int
) -> tuple[list[float], list[float]]:
    """Seconds of ``repeat`` identical queries (after one warm-up): as the client saw them, and
    as the server reported them (``meta.query_ms``, before JSON encoding)."""
    url = f"{serving_url}/views/page_views_by_page"
    with httpx.Client(timeout=60) as client:
        client.get(url, params=params).raise_for_status()
        client_side, server_side = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url, params=params)
            response.raise_for_status()
            client_side.append(time.perf_counter() - started)
            server_side.append(response.json()["meta"]["query_ms"] / 1000)
    return client_side, server_side


def time_direct(files: list[Path], start_ms: int, end_ms: int, repeat: int) -> list[float]:
    """Seconds of ``repeat`` DuckDB queries computing the same series straight from a batch
    version's files of ``page_views_by_page`` (counts summed, sketches listed per minute)."""
    sql = (
        "SELECT bucket - bucket % 60000 AS bucket, sum(views__count)::BIGINT AS views, "
        "list(visitors__hll) AS visitors FROM read_parquet(?) "
        "WHERE bucket >= ? AND bucket < ? GROUP BY 1 ORDER BY 1"
    )
    params = [[str(f) for f in files], start_ms, end_ms]
    taken = []
    with duckdb.connect() as connection:
        connection.sql(sql, params=params).to_arrow_table()  # warm-up
        for _ in range(repeat):
            started = time.perf_counter()
            connection.sql(sql, params=params).to_arrow_table().to_pylist()
            taken.append(time.perf_counter() - started)
    return taken
