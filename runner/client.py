"""Talking to a running pipeline's serving layer from the command-line tools."""

import time
from typing import Any

import httpx


def wait_caught_up(
    client: httpx.Client,
    serving_url: str,
    view: str,
    params: dict[str, str] | None = None,
    timeout_s: float = 30,
) -> dict[str, Any]:
    """Query ``view`` until its speed lag is 0; return the last answer (also on timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = client.get(f"{serving_url}/views/{view}", params=params).json()
        if answer["meta"]["speed"]["lag"] == 0 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)
