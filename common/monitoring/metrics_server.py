"""``GET /metrics`` on a port of its own, for the services without an HTTP API (archiver,
speed layer, scheduler): Prometheus text format, bound to ``LAMBDA_BIND_HOST`` (never all
interfaces, prometheus_client's default), and under the same policy as the APIs
(``common.runtime.security``): with keys set, a read or admin key is needed. The Host check allows
IP addresses too, since Prometheus scrapes the speed replicas by the addresses DNS gives."""

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from common.errors import LambdaError
from common.runtime.security import PAGE_HEADERS, Policy, policy_for
from common.runtime.settings import CommonSettings

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
METRICS_PATH = "/metrics"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (every 5 s from Prometheus)."""


def guarded(app: WSGIApp, policy: Policy) -> WSGIApp:
    """``app`` answering only ``GET /metrics``, and only when ``policy`` lets it through
    (prometheus_client's app answers its metrics on any path, ``/health`` included, which the
    policy lets through without a key)."""

    def refuse(start_response: StartResponse, status: int, detail: str, *extra: Any) -> list[bytes]:
        body = orjson.dumps({"detail": detail})
        start_response(
            f"{status} {_REASONS.get(status, 'Refused')}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *extra,
                *((k.decode(), v.decode()) for k, v in PAGE_HEADERS),
            ],
        )
        return [body]

    def guarded_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") != METRICS_PATH:
            return refuse(start_response, 404, f"only GET {METRICS_PATH} is served here")
        headers = {
            name: environ[variable]
            for name, variable in (("host", "HTTP_HOST"), ("authorization", "HTTP_AUTHORIZATION"))
            if variable in environ
        }
        refusal = policy.check(
            environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/"), "http", headers
        )
        if refusal is None:
            return app(environ, start_response)
        return refuse(start_response, refusal.status, refusal.detail, *refusal.headers)

    return guarded_app


def serve_metrics(service: str, port: int, settings: CommonSettings) -> WSGIServer:
    """Answer ``GET /metrics`` on ``LAMBDA_BIND_HOST``:``port`` from a daemon thread."""
    host = settings.bind_host
    policy = policy_for(service, settings, any_address=True)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        server_class = type("MetricsServer", (ThreadingWSGIServer,), {"address_family": family})
        server: WSGIServer = make_server(
            host.strip("[]"), port, guarded(make_wsgi_app(REGISTRY), policy), server_class, _Quiet
        )
    except OSError as exc:
        raise LambdaError(
            f"cannot serve metrics on {host}:{port} (LAMBDA_BIND_HOST, LAMBDA_*_METRICS_PORT): "
            f"{exc}"
        ) from exc
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
