"""`make demo`: post generated web-shop events to a running pipeline, print a merged query."""

import random
import sys
import uuid
from typing import Any

import httpx
from pydantic import Field

from common.settings import CommonSettings
from common.timeutil import now_ms
from runner.client import wait_caught_up

PAGES = ["/", "/search", "/product/1", "/product/2", "/product/3", "/cart", "/checkout"]
COUNTRIES = ["NL", "DE", "FR", "BE", "ES", "IT", "US", "GB"]


class DemoSettings(CommonSettings):
    ingest_port: int = 8000
    serving_port: int = 8001
    demo_events: int = Field(default=5_000, ge=1)


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
    ingest = f"http://127.0.0.1:{settings.ingest_port}"
    serving = f"http://127.0.0.1:{settings.serving_port}"
    events = generate(settings.demo_events, random.Random())
    with httpx.Client(timeout=30) as client:
        try:
            for start in range(0, len(events), 1000):
                response = client.post(f"{ingest}/events", json=events[start : start + 1000])
                response.raise_for_status()
        except httpx.HTTPError as exc:
            print(
                f"error: cannot post to {ingest} ({exc}); is `make run` running?", file=sys.stderr
            )
            return 1
        print(f"posted {len(events)} events to {ingest}/events")
        answer = wait_caught_up(client, serving, "revenue_by_country", {"granularity": "day"})
    _print_table(answer)
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
