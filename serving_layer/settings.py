"""Settings of the serving layer."""

from pydantic import Field

from common.settings import CommonSettings


class ServingSettings(CommonSettings):
    """Environment variables of the serving layer (prefix ``LAMBDA_``)."""

    serving_port: int = Field(default=8001, ge=1, le=65535, description="the serving API's port")
    serving_processes: int = Field(
        default=1, ge=1, le=32, description="worker processes answering on the one port"
    )
    serving_max_rows: int = Field(default=100_000, ge=1, description="the largest `limit` accepted")
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
