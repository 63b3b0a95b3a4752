"""The container healthcheck against real loopback HTTP servers."""

import http.server
import threading
from collections.abc import Iterator

import pytest

from common.runtime.healthcheck import http_ok, main
from runner.launcher import free_port


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_200_is_healthy(server):
    assert http_ok(f"{server}/health") is None
    assert main([f"{server}/health"]) == 0


def test_other_status_is_unhealthy_with_the_reason(server, capsys):
    assert http_ok(f"{server}/other") == f"{server}/other answered 503"
    assert main([f"{server}/other"]) == 1
    assert "answered 503" in capsys.readouterr().err


def test_nothing_listening_is_unhealthy():
    url = f"http://127.0.0.1:{free_port()}/health"
    problem = http_ok(url, timeout_s=1)
    assert problem is not None and problem.startswith(url)


def test_unreachable_broker_is_unhealthy():
    assert main(["--kafka", f"127.0.0.1:{free_port()}"]) == 1


def test_usage_error_exits_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_an_http_check_sends_a_read_key_when_keys_are_set(monkeypatch):
    seen: list[str | None] = []

    class Keyed(_Handler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("authorization"))
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keyed)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/health"
        monkeypatch.setenv("LAMBDA_READ_KEYS", "rd-1, rd-2")
        assert main([url]) == 0
        monkeypatch.delenv("LAMBDA_READ_KEYS")
        assert main([url]) == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert seen == ["Bearer rd-1", None]
