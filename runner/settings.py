"""Settings of the local runner."""

from pydantic import Field

from common.settings import CommonSettings


class RunnerSettings(CommonSettings):
    """Environment variables `make run` honours (prefix ``LAMBDA_``)."""

    ingest_port: int = Field(default=8000, ge=1, le=65535)
    serving_port: int = Field(default=8001, ge=1, le=65535)
    local_broker: bool = True
    batch_interval: float = Field(default=300, ge=0)
    restart_delay_seconds: float = Field(default=1.0, ge=0, le=4)
