"""Who may ask what, and from where: one implementation for both HTTP services.

- **Keys and roles**: with any of ``LAMBDA_INGEST_KEYS``, ``LAMBDA_READ_KEYS``,
  ``LAMBDA_ADMIN_KEYS`` set, every request but ``GET /health`` needs
  ``Authorization: Bearer <key>``: an ingest key may post events (and imports), a read key may
  read (any GET), an admin key may do both and everything else (``POST /batch/runs``). 401
  without a valid key, 403 for a key without the right. Keys are compared in constant time
  and never logged or echoed.
- **Host allowlist** (against DNS rebinding): the service's own names only, else 400.
- **Origin** (against cross-site posts): a ``POST``, ``PUT``, ``PATCH`` or ``DELETE`` whose
  ``Origin`` is not the service's own answers 403; no ``Origin`` (curl, scripts) is fine.
- **Content types**: a route may take only some media types (``POST /events``: JSON and
  NDJSON), else 415. A browser can post ``text/plain`` to any port without asking; it must ask
  (a CORS preflight, which these services never grant) before posting JSON.
- **Pages**: every answer carries a Content-Security-Policy that allows only the service's
  own origin and refuses framing, and ``X-Frame-Options: DENY``.

The decisions are pure functions (tested on their own); :class:`SecurityMiddleware` applies
them to each request, before the app sees it.
"""

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI

from common.runtime.settings import CommonSettings, split_list

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
"""The names every service answers to, wherever it runs."""

INGEST, READ, ADMIN = "ingest", "read", "admin"
RIGHTS_OF_ROLE: Mapping[str, frozenset[str]] = {
    INGEST: frozenset({INGEST}),
    READ: frozenset({READ}),
    ADMIN: frozenset({INGEST, READ, ADMIN}),
}
"""What each kind of key may do: ``ingest`` posts events, ``read`` reads, ``admin`` all."""

KEY_VARIABLES = "LAMBDA_INGEST_KEYS, LAMBDA_READ_KEYS or LAMBDA_ADMIN_KEYS"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READING = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = frozenset({("GET", "/health"), ("HEAD", "/health")})
INGEST_PATHS = frozenset({"/events", "/imports"})
"""What an ingest key may post to (``POST /imports`` once imports exist)."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Swagger UI's style sheet draws its icons from data: URIs (inline, nothing fetched)
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
"""Headers on every answer: a page that carries them runs only the service's own scripts,
fetches only from its own origin, and is never framed (clickjacking)."""


def is_loopback(host: str) -> bool:
    """True for an address that only this machine reaches (``127.0.0.0/8``, ``::1``,
    ``localhost``); ``0.0.0.0`` and any other name are not."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refuse_unprotected_bind(settings: CommonSettings) -> str | None:
    """Why a pipeline bound to ``LAMBDA_BIND_HOST`` must not start (beyond loopback with no
    keys), or None when it may."""
    if is_loopback(settings.bind_host) or any(settings.role_keys().values()):
        return None
    return (
        f"LAMBDA_BIND_HOST={settings.bind_host} is reachable from other machines, and no API "
        f"key is set: set {KEY_VARIABLES} (comma-separated keys; see docs/configuration.md, "
        "Security), or bind 127.0.0.1"
    )


@dataclass(frozen=True)
class Keys:
    """The configured keys by role; no keys at all means requests need none."""

    by_role: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return any(self.by_role.values())

    def rights(self, presented: str | None) -> frozenset[str] | None:
        """The rights of a presented key, or None when it is no key of ours.

        Every configured key is compared, in constant time, whether or not one matched
        already: how long a check takes says nothing about which key (or how much of it)
        was right."""
        if presented is None:
            return None
        given = _digest(presented)  # equal lengths: the comparison says nothing of a key's
        rights: set[str] = set()
        matched = False
        for role, keys in self.by_role.items():
            for key in keys:
                if hmac.compare_digest(given, _digest(key)):
                    matched = True
                    rights |= RIGHTS_OF_ROLE[role]
        return frozenset(rights) if matched else None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def bearer_token(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def required_right(method: str, path: str, ingest_paths: Iterable[str]) -> str | None:
    """The right a request needs: None for the public ones (``GET /health``), ``read`` for
    reading, ``ingest`` for posting to the ingest paths, ``admin`` for anything else."""
    if (method, path) in PUBLIC:
        return None
    if method in READING:
        return READ
    if method == "POST" and path in ingest_paths:
        return INGEST
    return ADMIN


def host_name(host_header: str) -> str:
    """The name of a ``Host`` header without its port, lower case, IPv6 in brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, colon, port = host.rpartition(":")
    return name.rstrip(".") if colon and port.isdigit() else host.rstrip(".")


def allowed_host_names(service: str, settings: CommonSettings) -> frozenset[str]:
    """The names a service answers to: loopback, its Compose service name, the address it is
    bound to (when it is one address, not every interface) and ``LAMBDA_ALLOWED_HOSTS``."""
    names = {*LOOPBACK_NAMES, service, *split_list(settings.allowed_hosts.lower())}
    bound = settings.bind_host.strip().lower()
    try:
        if not ipaddress.ip_address(bound.strip("[]")).is_unspecified:
            names.add(f"[{bound.strip('[]')}]" if ":" in bound else bound)
    except ValueError:
        names.add(bound)
    return frozenset(host_name(name) for name in names)


def host_allowed(
    host_header: str | None, allowed: frozenset[str], any_address: bool = False
) -> bool:
    """True when the ``Host`` names one of ``allowed`` (``*`` among them allows any), or,
    with ``any_address``, is an IP address: a page that DNS rebinding turned against us
    still sends its own name, so an address is no rebinding (and Prometheus, finding the
    speed replicas through DNS, scrapes them by address)."""
    if not host_header:
        return False
    name = host_name(host_header)
    if "*" in allowed or name in allowed:
        return True
    if not any_address:
        return False
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def same_origin(origin: str, scheme: str, host_header: str) -> bool:
    """True when ``Origin`` is the origin of the request's own scheme and ``Host``."""
    try:
        parts = urlsplit(origin.strip().lower())
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        return False
    defaults = {"http": 80, "https": 443}
    own = urlsplit(f"{scheme}://{host_header.strip().lower()}")
    try:
        own_port = own.port
    except ValueError:
        return False
    return (
        parts.scheme == scheme
        and parts.hostname == own.hostname
        and (origin_port or defaults[parts.scheme]) == (own_port or defaults.get(scheme))
    )


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header, without its parameters, lower case."""
    return (content_type or "").split(";", maxsplit=1)[0].strip().lower()


@dataclass(frozen=True)
class Refusal:
    """A request refused before the app sees it: its status, detail and extra headers."""

    status: int
    detail: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Policy:
    """What a service allows: its names, keys, the paths an ingest key may post to, the
    media types some routes take, and the pages (answered with a 401 status, not a JSON
    error, when a key is missing: the page itself asks for the key)."""

    allowed_hosts: frozenset[str]
    keys: Keys
    ingest_paths: frozenset[str] = frozenset()
    content_types: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    pages: frozenset[str] = frozenset()
    public_prefixes: tuple[str, ...] = ()
    any_address: bool = False

    def check(
        self, method: str, path: str, scheme: str, headers: Mapping[str, str]
    ) -> Refusal | None:
        """Why this request is refused, or None when the app may answer it."""
        host = headers.get("host")
        if not host_allowed(host, self.allowed_hosts, self.any_address):
            return Refusal(
                400,
                "this service does not answer to that Host name; set LAMBDA_ALLOWED_HOSTS "
                "to add it",
            )
        origin = headers.get("origin")
        if (
            method in STATE_CHANGING
            and origin is not None
            and not same_origin(origin, scheme, host or "")
        ):
            return Refusal(403, "cross-origin request refused: its Origin is not this service")
        refusal = self._check_key(method, path, headers.get("authorization"))
        if refusal is not None:
            return refusal
        accepted = self.content_types.get((method, path))
        if accepted is not None and media_type(headers.get("content-type")) not in accepted:
            return Refusal(415, f"Content-Type must be one of {', '.join(sorted(accepted))}")
        return None

    def _check_key(self, method: str, path: str, authorization: str | None) -> Refusal | None:
        if not self.keys.required or path.startswith(self.public_prefixes):
            return None
        needed = required_right(method, path, self.ingest_paths)
        if needed is None:
            return None
        rights = self.keys.rights(bearer_token(authorization))
        if rights is None:
            challenge = (("www-authenticate", 'Bearer realm="lambda"'),)
            return Refusal(401, "an API key is needed: Authorization: Bearer <key>", challenge)
        if needed not in rights:
            return Refusal(403, f"this key may not do that: it needs the {needed} right")
        return None


def policy_for(
    service: str,
    settings: CommonSettings,
    *,
    ingest_paths: Iterable[str] = (),
    content_types: Mapping[tuple[str, str], Iterable[str]] | None = None,
    pages: Iterable[str] = (),
    public_prefixes: Iterable[str] = (),
    any_address: bool = False,
) -> Policy:
    """A service's policy from the settings (``service`` is its Compose service name)."""
    return Policy(
        allowed_hosts=allowed_host_names(service, settings),
        keys=Keys(settings.role_keys()),
        ingest_paths=frozenset(ingest_paths),
        content_types={k: frozenset(v) for k, v in (content_types or {}).items()},
        pages=frozenset(pages),
        public_prefixes=tuple(public_prefixes),
        any_address=any_address,
    )


class SecurityMiddleware:
    """Applies a :class:`Policy` to every HTTP request and adds :data:`PAGE_HEADERS` to every
    answer. A page refused for want of a key is still served, with status 401, so that a
    browser shows it and the page asks for the key."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        refusal = self.policy.check(method, path, scope.get("scheme", "http"), headers)
        if refusal is not None and not (
            refusal.status == 401 and method in ("GET", "HEAD") and path in self.policy.pages
        ):
            await _refuse(refusal, send)
            return
        status = refusal.status if refusal is not None else None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if status is not None:
                    message["status"] = status
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"www-authenticate", b'Bearer realm="lambda"'),
                    ]
                message["headers"] = [*message.get("headers", []), *PAGE_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(refusal: Refusal, send: Send) -> None:
    body = orjson.dumps({"detail": refusal.detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in refusal.headers),
        *PAGE_HEADERS,
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_REFUSED = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}


def secure(app: FastAPI, policy: Policy) -> None:
    """Check every request against ``policy`` (before anything else sees it) and say so in
    the app's OpenAPI document: the bearer scheme and 401/403 when keys are set, 403 for a
    foreign ``Origin`` on state-changing operations, 415 where media types are enforced."""
    app.add_middleware(SecurityMiddleware, policy=policy)
    build = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = build()
        if not done:
            document_policy(schema, policy)
            done.append(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_policy(schema: dict[str, Any], policy: Policy) -> None:
    """Add what ``policy`` answers to every operation of an OpenAPI document."""
    if policy.keys.required:
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["apiKey"] = {
            "type": "http",
            "scheme": "bearer",
            "description": f"a key of {KEY_VARIABLES}",
        }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _document_operation(operation, method.upper(), path, policy)


def _document_operation(operation: dict[str, Any], method: str, path: str, policy: Policy) -> None:
    responses = operation.setdefault("responses", {})

    def add(status: int, description: str) -> None:
        responses.setdefault(
            str(status),
            {"description": description, "content": {"application/json": {"schema": _REFUSED}}},
        )

    if method in STATE_CHANGING:
        add(403, "refused: a cross-origin request (its Origin is not this service)")
    if (method, path) in policy.content_types:
        add(415, "the Content-Type is not one this operation takes")
    if not policy.keys.required:
        return
    if required_right(method, path, policy.ingest_paths) is None:
        operation["security"] = []  # public: GET /health
        return
    operation["security"] = [{"apiKey": []}]
    add(401, "no valid API key (Authorization: Bearer <key>)")
    add(403, "the key lacks the right this operation needs")
