"""Issue 16: no keys existed: anyone who reached a port could write, read and start batch
runs. A pipeline started with keys (what `make run` runs, with LAMBDA_INGEST_KEYS,
LAMBDA_READ_KEYS and LAMBDA_ADMIN_KEYS set) answers every request but `GET /health` only
with a key that has the right: 401 without one, 403 for one without the right, on both APIs
and on the metrics ports. The keys never appear in its log; `make demo` sends them; and
`make run` refuses to bind beyond loopback without any."""

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from conftest import launch
from stacks import ROOT, LocalPipeline

from runner.launcher import pipeline_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

INGEST_KEY, READ_KEY, ADMIN_KEY = "ingest-key-7f3a", "read-key-91c2", "admin-key-c0de"
KEYS = {
    "LAMBDA_INGEST_KEYS": f"{INGEST_KEY},ingest-key-2",
    "LAMBDA_READ_KEYS": READ_KEY,
    "LAMBDA_ADMIN_KEYS": ADMIN_KEY,
}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    base = tmp_path_factory.mktemp("keys")
    with launch(base, base / "data", extra_env=KEYS) as handle:
        yield handle


def bearer(key: str | None) -> dict[str, str]:
    # An explicit header, even an empty one, stops the pipeline's client adding its own key.
    return {"authorization": f"Bearer {key}" if key else ""}


def status_of(keyed: LocalPipeline, method: str, url: str, key: str | None, **kw) -> int:
    return keyed.client.request(
        method, url, headers={**bearer(key), **kw.pop("headers", {})}, **kw
    ).status_code


def test_each_request_needs_a_key_with_its_right(keyed):
    ingest, serving = keyed.ingest_url, keyed.serving_url
    # /status answers 503 until the monitor's first observation
    wait_for(
        lambda: status_of(keyed, "GET", f"{serving}/status", READ_KEY) == 200, 30, "/status 200"
    )
    event = {"content": b'{"type": "key_probe"}', "headers": JSON}
    cases = [
        # method, url, body, {key: status}
        (
            "POST",
            f"{ingest}/events",
            event,
            {
                None: 401,
                "wrong": 401,
                INGEST_KEY: 202,
                "ingest-key-2": 202,
                READ_KEY: 403,
                ADMIN_KEY: 202,
            },
        ),
        (
            "GET",
            f"{serving}/views/revenue_by_country",
            {},
            {None: 401, "wrong": 401, INGEST_KEY: 403, READ_KEY: 200, ADMIN_KEY: 200},
        ),
        ("GET", f"{serving}/status", {}, {None: 401, INGEST_KEY: 403, READ_KEY: 200}),
        ("GET", f"{serving}/batch/runs", {}, {None: 401, INGEST_KEY: 403, READ_KEY: 200}),
        ("GET", f"{serving}/metrics", {}, {None: 401, INGEST_KEY: 403, READ_KEY: 200}),
        ("GET", f"{ingest}/metrics", {}, {None: 401, INGEST_KEY: 403, READ_KEY: 200}),
        ("GET", f"{ingest}/openapi.json", {}, {None: 401, READ_KEY: 200}),
        ("GET", f"{serving}/openapi.json", {}, {None: 401, READ_KEY: 200}),
        ("POST", f"{serving}/batch/runs", {}, {None: 401, INGEST_KEY: 403, READ_KEY: 403}),
        ("GET", f"{ingest}/health", {}, {None: 200}),
        ("GET", f"{serving}/health", {}, {None: 200}),
    ]
    for method, url, body, expected in cases:
        for key, status in expected.items():
            got = status_of(keyed, method, url, key, **body)
            assert got == status, f"{method} {url} with key {key!r}: {got}, expected {status}"


def test_a_refusal_challenges_for_a_bearer_key_and_never_echoes_one(keyed):
    answer = keyed.client.get(f"{keyed.serving_url}/views", headers=bearer("wrong-key-echo"))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "wrong-key-echo" not in answer.text
    forbidden = keyed.client.get(f"{keyed.serving_url}/views", headers=bearer(INGEST_KEY))
    assert forbidden.status_code == 403 and INGEST_KEY not in forbidden.text


def test_an_admin_key_starts_a_batch_run(keyed):
    started = keyed.client.post(f"{keyed.serving_url}/batch/runs", headers=bearer(ADMIN_KEY))
    assert started.status_code in (202, 409), started.text
    assert started.json()["id"]


def test_the_pages_load_without_a_key_and_ask_for_one(keyed):
    for url in (f"{keyed.serving_url}/", f"{keyed.serving_url}/docs", f"{keyed.ingest_url}/docs"):
        page = keyed.client.get(url, headers=bearer(None))
        assert page.status_code == 401, url
        assert page.headers["content-type"].startswith("text/html")
        assert "/assets/api-key.js" in page.text
        assert keyed.client.get(url, headers=bearer(READ_KEY)).status_code == 200
    assets = f"{keyed.serving_url}/assets/api-key.js", f"{keyed.serving_url}/dashboard/dashboard.js"
    for url in assets:
        assert keyed.client.get(url, headers=bearer(None)).status_code == 200, url


def test_the_metrics_ports_need_a_read_key(keyed):
    env = keyed.env()
    for variable in (
        "LAMBDA_ARCHIVER_METRICS_PORT",
        "LAMBDA_SPEED_METRICS_PORT",
        "LAMBDA_SCHEDULER_METRICS_PORT",
    ):
        url = f"http://127.0.0.1:{env[variable]}/metrics"
        assert httpx.get(url).status_code == 401, url
        assert httpx.get(url, headers=bearer(INGEST_KEY)).status_code == 403, url
        answer = httpx.get(url, headers=bearer(READ_KEY))
        assert answer.status_code == 200 and "lambda_" in answer.text, url
        assert (
            httpx.get(url, headers={"host": "rebind.evil.example", **bearer(READ_KEY)}).status_code
            == 400
        )


def test_the_keys_never_appear_in_the_log(keyed):
    # Every service logged its settings at start; the runner too.
    log = keyed.log_path.read_text(errors="replace")
    assert "LAMBDA_READ_KEYS=(1 key)" in log
    for key in (INGEST_KEY, "ingest-key-2", READ_KEY, ADMIN_KEY):
        assert key not in log


def test_make_demo_sends_the_keys_it_needs(keyed):
    env = {**keyed.env(), "LAMBDA_DEMO_EVENTS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "runner.demo"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "posted 200 events" in result.stdout
    without = {k: v for k, v in env.items() if not k.endswith("_KEYS")}
    refused = subprocess.run(
        [sys.executable, "-m", "runner.demo"],
        env=without,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1
    assert "answered 401" in refused.stderr and "LAMBDA_API_KEY" in refused.stderr


def test_make_run_refuses_to_bind_beyond_loopback_without_keys(tmp_path):
    env = {**pipeline_env(tmp_path / "data", ROOT / "views.yaml"), "LAMBDA_BIND_HOST": "0.0.0.0"}
    env = {k: v for k, v in env.items() if not k.endswith("_KEYS")}
    result = subprocess.run(
        [sys.executable, "-m", "runner"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    for variable in ("LAMBDA_INGEST_KEYS", "LAMBDA_READ_KEYS", "LAMBDA_ADMIN_KEYS"):
        assert variable in result.stderr
    assert not (tmp_path / "data" / "run" / "broker.pid").exists()
