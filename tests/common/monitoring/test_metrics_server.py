"""The metrics port of a service without an HTTP API answers GET /metrics only, and with keys
set only to a read or admin key."""

import httpx
from pydantic import SecretStr

from common.monitoring.metrics_server import serve_metrics
from common.runtime.settings import CommonSettings
from runner.launcher import free_port


def test_only_metrics_are_served_and_only_with_a_read_key():
    settings = CommonSettings(read_keys=SecretStr("reader"), ingest_keys=SecretStr("writer"))
    port = free_port()
    server = serve_metrics("speed", port, settings)
    try:
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert (
            httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer writer"}).status_code
            == 403
        )
        served = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer reader"})
        assert served.status_code == 200 and "python_info" in served.text
        for path in ("/health", "/", "/metrics/extra"):  # public or not, no metrics elsewhere
            refused = httpx.get(f"{url}{path}")
            assert refused.status_code == 404, path
            assert "python_info" not in refused.text
    finally:
        server.shutdown()
        server.server_close()
