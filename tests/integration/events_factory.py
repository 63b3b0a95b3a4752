"""Random web-shop events for the integration tests."""

import random
from datetime import UTC, datetime
from typing import Any

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PAGES = [f"/p/{i}" for i in range(12)]
COUNTRIES = [
    "NL",
    "DE",
    "FR",
    "BE",
    "ES",
    "IT",
    "PL",
    "SE",
    "NO",
    "DK",
    "US",
    "GB",
    "IE",
    "PT",
    "AT",
]
DEVICES = ["mobile", "desktop", "tablet"]


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class EventFactory:
    """Makes events with unique ids, timestamps spread over a window before ``now_ms``."""

    def __init__(self, seed: int, prefix: str, now_ms: int) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.now_ms = now_ms
        self.count = 0

    def batch(self, n: int, spread_ms: int = 48 * HOUR_MS, age_ms: int = 0) -> list[dict[str, Any]]:
        return [self.one(self.now_ms - age_ms - self.rng.randrange(spread_ms)) for _ in range(n)]

    def one(self, ts: int) -> dict[str, Any]:
        self.count += 1
        rng = self.rng
        event: dict[str, Any] = {
            "id": f"{self.prefix}-{self.count}",
            # Event time as epoch ms or RFC 3339, both allowed by the contract.
            "ts": ts if rng.random() < 0.5 else rfc3339(ts),
            "user_id": f"u{rng.randrange(4000)}",
        }
        if rng.random() < 0.5:
            event["type"] = "page_view"
            if rng.random() < 0.97:
                event["page"] = rng.choice(PAGES)
            event["device"] = rng.choice(DEVICES)
            event["load_ms"] = None if rng.random() < 0.05 else rng.randrange(20, 3000)
        else:
            event["type"] = "purchase"
            if rng.random() < 0.96:
                event["country"] = rng.choice(COUNTRIES)
            event["amount"] = None if rng.random() < 0.03 else round(rng.uniform(1, 500), 2)
        return event

    def with_duplicates(self, events: list[dict[str, Any]], rate: float) -> list[dict[str, Any]]:
        """The events plus exact copies of about ``rate`` of them, all shuffled."""
        copies = [dict(e) for e in events if self.rng.random() < rate]
        mixed = events + copies
        self.rng.shuffle(mixed)
        return mixed
