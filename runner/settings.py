"""Settings of the local runner."""

from pydantic import Field

from common.runtime.settings import CommonSettings


class RunnerSettings(CommonSettings):
    """Environment variables `make run` honours (prefix ``LAMBDA_``)."""

    ingest_port: int = Field(default=8000, ge=1, le=65535, description="the ingest API's port")
    serving_port: int = Field(default=8001, ge=1, le=65535, description="the serving API's port")
    local_broker: bool = Field(
        default=True,
        description="1: start the bundled broker at LAMBDA_KAFKA_BOOTSTRAP; 0: use an existing "
        "broker there",
    )
    batch_interval: float = Field(
        default=300, ge=0, description="seconds between batch runs; 0 turns the schedule off"
    )
    restart_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        le=4,
        description="how long the runner waits before restarting a service that died",
    )
    archiver_metrics_port: int = Field(
        default=9101, ge=0, le=65535, description="the archiver's GET /metrics port (0: none)"
    )
    speed_metrics_port: int = Field(
        default=9102,
        ge=0,
        le=65535,
        description="the speed layer's GET /metrics port (0: none); replica N answers "
        "100 * (N - 1) above it",
    )
    scheduler_metrics_port: int = Field(
        default=9103,
        ge=0,
        le=65535,
        description="the batch scheduler's GET /metrics port (0: none)",
    )
    speed_replicas: int = Field(
        default=1,
        ge=1,
        le=64,
        description="speed-layer processes (or containers) sharing the topic's partitions",
    )

    def service_metrics_port(self, service: str) -> int:
        """The port where a service without an HTTP API answers GET /metrics (0: none).

        Speed replica ``speed-N`` answers 100 * (N - 1) above the speed layer's port."""
        name, _, replica = service.partition("-")
        base = int(getattr(self, f"{name}_metrics_port", 0))
        return base + 100 * (int(replica) - 1) if base and replica else base
