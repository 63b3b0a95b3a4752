"""One log format for every service, so interleaved `make run` output stays readable."""

import logging

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogSettings(BaseSettings):
    """How much every service logs (read before any other setting, so that a bad one is
    logged)."""

    model_config = SettingsConfigDict(env_prefix="LAMBDA_", extra="ignore")

    log_level: str = Field(default="INFO", description="log level of every service")


def setup_logging(service: str) -> logging.Logger:
    """Configure the root logger for ``service`` and return the service's logger."""
    level = LogSettings().log_level.upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s {service:<9} %(levelname)-5s %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # kafka-python warns when its I/O loop waits on the GIL; that is load, not a fault.
    logging.getLogger("kafka.net").setLevel(logging.ERROR)
    return logging.getLogger(service)
