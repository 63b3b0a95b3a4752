"""Settings every service reads; each service extends them with its own."""

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_HEADER_BYTES = 16 * 1024
"""A request's line and headers at most (uvicorn's default, set here so it stays)."""


class CommonSettings(BaseSettings):
    """Environment variables shared by all services (prefix ``LAMBDA_``)."""

    model_config = SettingsConfigDict(env_prefix="LAMBDA_", extra="ignore")

    views_file: Path = Path("views.yaml")
    data_dir: Path = Path("data")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_api_version: str = Field(
        default="2.5",
        description="Kafka protocol version as 'major.minor', or 'auto' to detect it "
        "(the bundled broker needs 2.5).",
    )
    topic: str = "events"
    partitions: int = Field(default=4, ge=1, le=256)
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="a port for GET /metrics; 0: none"
    )

    @field_validator("kafka_api_version")
    @classmethod
    def _check_api_version(cls, value: str) -> str:
        if value != "auto" and not all(part.isdigit() for part in value.split(".")):
            raise ValueError("must be 'auto' or a version such as '2.5'")
        return value

    def describe(self) -> str:
        """Every effective setting as ``LAMBDA_NAME=value``, sorted: the start line's text."""
        values = self.model_dump()
        return " ".join(f"LAMBDA_{name.upper()}={values[name]}" for name in sorted(values))

    @property
    def api_version(self) -> tuple[int, ...] | None:
        """The version tuple kafka-python expects, or None to auto-detect."""
        if self.kafka_api_version == "auto":
            return None
        return tuple(int(part) for part in self.kafka_api_version.split("."))


class HttpServiceSettings(CommonSettings):
    """What bounds an HTTP service's connections (uvicorn's limits), for ingest and serving."""

    http_limit_concurrency: int = Field(
        default=256,
        ge=1,
        description="connections and requests a process holds at once; beyond it, 503",
    )
    http_keep_alive_s: float = Field(
        default=5.0, gt=0, description="how long an idle keep-alive connection is kept"
    )
    http_shutdown_s: float = Field(
        default=10.0, gt=0, description="how long a stop waits for requests under way"
    )

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config's limits (common.lifecycle.HttpSettings)."""
        return {
            "limit_concurrency": self.http_limit_concurrency,
            "timeout_keep_alive": self.http_keep_alive_s,
            "timeout_graceful_shutdown": self.http_shutdown_s,
            "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        }
