"""Settings of the serving layer."""

from pydantic import Field

from common.runtime.settings import HttpServiceSettings


class ServingSettings(HttpServiceSettings):
    """Environment variables of the serving layer (prefix ``LAMBDA_``)."""

    serving_port: int = Field(default=8001, ge=1, le=65535, description="the serving API's port")
    serving_processes: int = Field(
        default=1, ge=1, le=32, description="worker processes answering on the one port"
    )
    serving_max_rows: int = Field(
        default=10_000,
        ge=1,
        description="rows an answer holds at most: a larger limit answers 422; without a "
        "limit, meta.truncated says whether there were more",
    )
    serving_query_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="how long a query may take, waiting its turn included; later it is cut "
        "and answers 503 with Retry-After",
    )
    serving_query_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="queries answered at once by a process; others wait their turn, while "
        "/health and /status never wait behind them",
    )
    serving_cache_entries: int = Field(
        default=128,
        ge=1,
        description="reduced sides kept, per query: a batch version's parts, speed files",
    )
    serving_lag_wait_ms: int = Field(
        default=500,
        ge=1,
        le=60_000,
        description="how long an answer waits for the topic's end offsets after its merge; "
        "later, its speed.lag is null",
    )
    retry_after_seconds: int = Field(
        default=2, ge=1, description="the Retry-After of a 503 (e.g. a view being recomputed)"
    )

    def listen(self) -> tuple[str, int, int]:
        """Host, port and number of worker processes (common.lifecycle.HttpSettings)."""
        return self.bind_host, self.serving_port, self.serving_processes
