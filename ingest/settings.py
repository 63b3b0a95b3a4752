"""Settings of the ingest API."""

from pydantic import Field

from common.runtime.settings import HttpServiceSettings


class IngestSettings(HttpServiceSettings):
    """Environment variables of the ingest API (prefix ``LAMBDA_``)."""

    ingest_port: int = Field(default=8000, ge=1, le=65535, description="the ingest API's port")
    ingest_processes: int = Field(
        default=1, ge=1, le=32, description="worker processes answering on the one port"
    )
    ingest_check_processes: int = Field(
        default=2,
        ge=1,
        le=32,
        description="worker processes (per ingest process) that check large requests",
    )
    max_events: int = Field(default=10_000, ge=1, description="events per request (413 beyond)")
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1, description="bytes per request (413 beyond)"
    )
    ack_timeout_seconds: float = Field(
        default=5.0, gt=0, description="how long to wait for the broker before answering 503"
    )
    retry_after_seconds: int = Field(
        default=2, ge=1, description="the Retry-After of a 503 (e.g. a view being recomputed)"
    )

    def listen(self) -> tuple[str, int, int]:
        """Host, port and number of worker processes (common.lifecycle.HttpSettings)."""
        return self.bind_host, self.ingest_port, self.ingest_processes
