"""Settings every service reads; each service extends them with its own."""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Environment variables shared by all services (prefix ``LAMBDA_``)."""

    model_config = SettingsConfigDict(env_prefix="LAMBDA_", extra="ignore")

    views_file: Path = Field(default=Path("views.yaml"), description="the view definitions")
    data_dir: Path = Field(
        default=Path("data"),
        description="master dataset, batch views, speed snapshots, pid files, broker log",
    )
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="the broker")
    kafka_api_version: str = Field(
        default="2.5",
        description="Kafka protocol version as 'major.minor', or 'auto' to detect it "
        "(the bundled broker needs 2.5; auto for Apache Kafka)",
        json_schema_extra={"compose_default": "auto"},
    )
    topic: str = Field(default="events", description="the topic")
    partitions: int = Field(
        default=4, ge=1, le=256, description="partitions of a topic the pipeline creates"
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="a port where a service without an HTTP API answers GET /metrics (0: none; "
        "9100 in containers, where it is their healthcheck)",
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
