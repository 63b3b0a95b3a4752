"""Settings every service reads; each service extends them with its own."""

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_HEADER_BYTES = 16 * 1024
"""A request's line and headers at most (uvicorn's default, set here so it stays)."""


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
    bind_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="the address every listener binds (HTTP APIs, metrics ports, the bundled "
        "broker); in Compose, the host address the APIs are published on. Beyond loopback, "
        "make run and make up need a key set",
    )
    ingest_keys: SecretStr = Field(
        default=SecretStr(""), description="comma-separated keys that may post events"
    )
    read_keys: SecretStr = Field(
        default=SecretStr(""), description="comma-separated keys that may read"
    )
    admin_keys: SecretStr = Field(
        default=SecretStr(""), description="comma-separated keys that may do everything"
    )
    allowed_hosts: str = Field(
        default="",
        description="comma-separated Host names the HTTP services answer to, beside "
        "localhost, 127.0.0.1, [::1] and their Compose service name",
    )
    api_key: SecretStr = Field(
        default=SecretStr(""),
        description="the key `make demo` and the tools send (default: the first key of a "
        "role that may do what they do)",
    )

    @field_validator("kafka_api_version")
    @classmethod
    def _check_api_version(cls, value: str) -> str:
        if value != "auto" and not all(part.isdigit() for part in value.split(".")):
            raise ValueError("must be 'auto' or a version such as '2.5'")
        return value

    def describe(self) -> str:
        """Every effective setting as ``LAMBDA_NAME=value``, sorted: the start line's text.
        Keys are never shown: only how many there are."""
        values = self.model_dump()
        return " ".join(
            f"LAMBDA_{name.upper()}={_shown(getattr(self, name), values[name])}"
            for name in sorted(values)
        )

    def role_keys(self) -> dict[str, tuple[str, ...]]:
        """The configured keys by role (``ingest``, ``read``, ``admin``)."""
        return {
            "ingest": split_list(self.ingest_keys.get_secret_value()),
            "read": split_list(self.read_keys.get_secret_value()),
            "admin": split_list(self.admin_keys.get_secret_value()),
        }

    def client_key(self, right: str) -> str | None:
        """The key a tool sends for ``right`` (``ingest`` or ``read``): ``LAMBDA_API_KEY``,
        else the first key of that role, else the first admin key; None when none is set."""
        explicit = self.api_key.get_secret_value().strip()
        if explicit:
            return explicit
        keys = self.role_keys()
        found = keys.get(right, ()) + keys["admin"]
        return found[0] if found else None

    @property
    def client_host(self) -> str:
        """Where this machine's tools reach the listeners: the bound address, or 127.0.0.1
        when they are bound to every interface (an IPv6 address in brackets)."""
        host = self.bind_host.strip().strip("[]")
        if host in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def api_version(self) -> tuple[int, ...] | None:
        """The version tuple kafka-python expects, or None to auto-detect."""
        if self.kafka_api_version == "auto":
            return None
        return tuple(int(part) for part in self.kafka_api_version.split("."))


def split_list(text: str) -> tuple[str, ...]:
    """The items of a comma-separated setting, stripped, empty ones left out."""
    return tuple(key.strip() for key in text.split(",") if key.strip())


def _shown(value: object, dumped: object) -> object:
    if isinstance(value, SecretStr):
        count = len(split_list(value.get_secret_value()))
        return f"({count} key{'' if count == 1 else 's'})" if count else ""
    return dumped


class HttpServiceSettings(CommonSettings):
    """What bounds an HTTP service's connections (uvicorn's limits), for ingest and serving."""

    http_limit_concurrency: int = Field(
        default=256,
        ge=1,
        description="connections and requests a process holds at once; beyond it, uvicorn answers "
        "503 to every request, /health included (a flood looks like an unhealthy service)",
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
