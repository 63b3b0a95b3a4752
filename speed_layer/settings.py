"""Settings of the speed layer."""

from pydantic import Field

from common.runtime.settings import CommonSettings


class SpeedSettings(CommonSettings):
    """Environment variables of the speed layer (prefix ``LAMBDA_``)."""

    speed_snapshot_seconds: float = Field(
        default=0.2, gt=0, le=1.0, description="longest time between snapshots while events flow"
    )
