"""`make demo`: post generated web-shop events to a running pipeline, print a merged query.

With ``LAMBDA_DEMO_SECONDS`` it keeps a steady load for that long instead: events at
``LAMBDA_DEMO_RATE`` a second and a merged query a second, with a progress line every few
seconds; what the dashboard and ``GET /status`` are for."""

import random
import sys
import time
import uuid
from typing import Any

import httpx
from pydantic import Field

from common.model.timeutil import now_ms
from common.runtime.settings import CommonSettings
from runner.client import ApiKeys, wait_caught_up

PAGES = ["/", "/search", "/product/1", "/product/2", "/product/3", "/cart", "/checkout"]
COUNTRIES = ["NL", "DE", "FR", "BE", "ES", "IT", "US", "GB"]


class DemoSettings(CommonSettings):
    ingest_port: int = 8000
    serving_port: int = 8001
    demo_events: int = Field(default=5_000, ge=1, description="events posted")
    demo_seconds: float = Field(default=0, ge=0, description="keep a steady load this long")
    demo_rate: int = Field(default=1_000, ge=1, le=100_000, description="events a second")


def generate(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Page views and purchases (about one in ten) over the last two hours."""
    now = now_ms()
    events: list[dict[str, Any]] = []
    for _ in range(count):
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "ts": now - rng.randrange(2 * 3_600_000),
            "user_id": f"user-{rng.randrange(500)}",
        }
        if rng.random() < 0.9:
            event.update(type="page_view", page=rng.choice(PAGES))
        else:
            amount = round(rng.lognormvariate(3.5, 0.8), 2)
            event.update(type="purchase", country=rng.choice(COUNTRIES), amount=amount)
        events.append(event)
    return events


def main() -> int:
    settings = DemoSettings()
    ingest = f"http://{settings.client_host}:{settings.ingest_port}"
    serving = f"http://{settings.client_host}:{settings.serving_port}"
    rng = random.Random()
    with httpx.Client(timeout=30, auth=ApiKeys(settings)) as client:
        try:
            if settings.demo_seconds:
                posted = _steady_load(client, ingest, serving, settings, rng)
            else:
                posted = _post(client, ingest, generate(settings.demo_events, rng))
        except httpx.HTTPError as exc:
            print(f"error: {_why(exc, ingest, serving)}", file=sys.stderr)
            return 1
        print(f"posted {posted} events to {ingest}/events")
        answer = wait_caught_up(client, serving, "revenue_by_country", {"granularity": "day"})
        top = client.get(f"{serving}/views/{TOP_QUERY[0]}", params=TOP_QUERY[1]).json()
    _print_table(answer)
    _print_top(top)
    return 0


TOP_QUERY = (
    "big_orders_by_country",
    {"granularity": "month", "order_by": "-big_revenue", "limit": "3", "quantiles": "0.5,0.9"},
)
"""A filtered view's top 3 (month, country) rows by revenue from orders of 50 or more, with
quantiles of the amounts: the top 3 countries of the month, unless the demo's events span two."""


def _why(exc: httpx.HTTPError, ingest: str, serving: str) -> str:
    """One line on why the demo could not talk to the pipeline."""
    if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (401, 403):
        return (
            f"{exc.request.url} answered {exc.response.status_code}: the pipeline needs an API "
            "key; set LAMBDA_API_KEY (or the LAMBDA_INGEST_KEYS, LAMBDA_READ_KEYS or "
            "LAMBDA_ADMIN_KEYS the pipeline has)"
        )
    return f"cannot talk to {ingest} or {serving} ({exc}); is `make run` running?"


def _post(client: httpx.Client, ingest: str, events: list[dict[str, Any]]) -> int:
    for start in range(0, len(events), 1000):
        response = client.post(f"{ingest}/events", json=events[start : start + 1000])
        response.raise_for_status()
    return len(events)


def _steady_load(
    client: httpx.Client, ingest: str, serving: str, settings: DemoSettings, rng: random.Random
) -> int:
    """Post ``demo_rate`` events and run one merged query every second, for
    ``demo_seconds``; a progress line every 5 s. The number of events posted."""
    started = time.monotonic()
    posted = 0
    next_report = started + 5
    tick = started
    while (now := time.monotonic()) - started < settings.demo_seconds:
        posted += _post(client, ingest, generate(settings.demo_rate, rng))
        answer = client.get(f"{serving}/views/revenue_by_country", params={"granularity": "day"})
        answer.raise_for_status()
        if now >= next_report:
            meta = answer.json()["meta"]
            print(
                f"{now - started:5.0f} s: posted {posted} events; speed lag "
                f"{meta['speed']['lag']}; batch version {meta['batch']['version']}",
                flush=True,
            )
            next_report += 5
        tick += 1
        time.sleep(max(0.0, tick - time.monotonic()))  # the load's pace, not a wait for a state
    return posted


def _print_table(answer: dict[str, Any]) -> None:
    meta = answer["meta"]
    print(
        f"\nGET /views/revenue_by_country?granularity=day  "
        f"(batch version {meta['batch']['version']}: {meta['batch']['events']} events; "
        f"speed: {meta['speed']['events']} events, lag {meta['speed']['lag']})\n"
    )
    print(f"{'day':<22}{'country':<9}{'orders':>7}{'revenue':>12}{'average':>9}{'buyers':>8}")
    for row in answer["rows"]:
        print(
            f"{row['bucket']:<22}{row['country'] or '-':<9}{row['orders']:>7}"
            f"{row['revenue'] or 0:>12.2f}{row['average'] or 0:>9.2f}{row['buyers']:>8}"
        )


def _print_top(answer: dict[str, Any]) -> None:
    rows = answer.get("rows", [])
    if not rows or not {"big_orders", "big_revenue", "amounts"} <= set(rows[0]):
        return  # a views file without the shipped view (or not yet answered)
    query = "&".join(f"{k}={v}" for k, v in TOP_QUERY[1].items())
    print(f"\nGET /views/{TOP_QUERY[0]}?{query}\n")
    print(
        f"{'month':<22}{'country':<9}{'orders':>7}{'big':>5}{'big revenue':>13}{'p50':>8}{'p90':>8}"
    )
    for row in rows:
        amounts = row["amounts"] or {}
        print(
            f"{row['bucket']:<22}{row['country'] or '-':<9}{row['orders']:>7}"
            f"{row['big_orders']:>5}{row['big_revenue'] or 0:>13.2f}"
            f"{amounts.get('p50', 0):>8.2f}{amounts.get('p90', 0):>8.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
