"""Talking to a running pipeline from the command-line tools (and the tests)."""

import time
from collections.abc import Generator, Mapping
from typing import Any

import httpx

from common.runtime.security import INGEST_PATHS, required_right
from common.runtime.settings import CommonSettings


class ApiKeys(httpx.Auth):
    """Sends each request with the key it needs when keys are set: ``LAMBDA_API_KEY``, or
    else the first key of a role with the right (an ingest key to post events, a read key
    to read), or else the first admin key. A request that names its own ``Authorization``
    keeps it."""

    def __init__(self, settings: CommonSettings) -> None:
        self._keys = {right: settings.client_key(right) for right in ("ingest", "read", "admin")}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ApiKeys":
        """The keys of a pipeline started with the environment ``env``."""
        names = ("ingest_keys", "read_keys", "admin_keys", "api_key")
        keys = {n: env.get(f"LAMBDA_{n.upper()}", "") for n in names}
        return cls(CommonSettings(**keys))  # type: ignore[arg-type]

    def key_for(self, method: str, path: str) -> str | None:
        right = required_right(method, path, INGEST_PATHS)
        return None if right is None else self._keys[right]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key = self.key_for(request.method, request.url.path)
        if key and "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {key}"
        yield request


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
