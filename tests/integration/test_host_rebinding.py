"""Issue 16: `GET /views/...` and `/status` with `Host: rebind.evil.example` answered 200: a
page on a name that DNS rebinding points at 127.0.0.1 could read everything. Both services
answer only their own names (localhost, 127.0.0.1, [::1], their Compose service name and
LAMBDA_ALLOWED_HOSTS) and 400 to any other, /health included."""

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.stack]

REBOUND = {"host": "rebind.evil.example"}


def test_a_rebound_name_is_refused_on_both_services(pipeline):
    for url in (
        f"{pipeline.serving_url}/views/revenue_by_country",
        f"{pipeline.serving_url}/views",
        f"{pipeline.serving_url}/status",
        f"{pipeline.serving_url}/",
        f"{pipeline.serving_url}/health",
        f"{pipeline.ingest_url}/health",
        f"{pipeline.ingest_url}/docs",
    ):
        for host in ("rebind.evil.example", "rebind.evil.example:8001", "localhost.evil"):
            answer = pipeline.client.get(url, headers={"host": host})
            assert answer.status_code == 400, (url, host, answer.text)
            assert "Host" in answer.json()["detail"]
    posted = pipeline.post({"type": "host_probe"}, headers=REBOUND)
    assert posted.status_code == 400


def test_the_services_own_names_are_answered(pipeline):
    port = pipeline.serving_url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "serving"):
        answer = pipeline.client.get(f"{pipeline.serving_url}/views", headers={"host": host})
        assert answer.status_code == 200, (host, answer.text)
