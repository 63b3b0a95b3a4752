"""Both HTTP services run uvicorn with bounded concurrency and timeouts, from their settings."""

import pytest
import uvicorn

from ingest.settings import IngestSettings
from serving_layer.settings import ServingSettings


@pytest.mark.parametrize("settings_type", [IngestSettings, ServingSettings])
def test_uvicorn_is_given_limits_with_sane_defaults(settings_type):
    config = uvicorn.Config("app:app", **settings_type().uvicorn_options())
    assert config.limit_concurrency == 256
    assert config.timeout_keep_alive == 5
    assert config.timeout_graceful_shutdown == 10
    assert config.h11_max_incomplete_event_size == 16 * 1024


def test_the_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("LAMBDA_HTTP_LIMIT_CONCURRENCY", "7")
    monkeypatch.setenv("LAMBDA_HTTP_KEEP_ALIVE_S", "2.5")
    options = ServingSettings().uvicorn_options()
    assert options["limit_concurrency"] == 7
    assert options["timeout_keep_alive"] == 2.5
