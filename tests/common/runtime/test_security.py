"""The security decisions on their own: keys and roles, Host and Origin matching, media types,
the headers of every answer; and the middleware applying them to a small app."""

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from common.runtime.security import (
    CONTENT_SECURITY_POLICY,
    Keys,
    bearer_token,
    host_allowed,
    host_name,
    is_loopback,
    policy_for,
    refuse_unprotected_bind,
    required_right,
    same_origin,
    secure,
)
from common.runtime.settings import CommonSettings

KEYS = Keys({"ingest": ("in-1", "in-2"), "read": ("rd-1",), "admin": ("ad-1",)})


def settings(**values: str) -> CommonSettings:
    return CommonSettings(**{"allowed_hosts": "", **values})


@pytest.mark.parametrize(
    ("key", "rights"),
    [
        ("in-1", {"ingest"}),
        ("in-2", {"ingest"}),
        ("rd-1", {"read"}),
        ("ad-1", {"ingest", "read", "admin"}),
        ("in-", None),
        ("in-1 ", None),
        ("", None),
        (None, None),
    ],
)
def test_a_key_has_the_rights_of_its_role_and_nothing_else_is_a_key(key, rights):
    found = KEYS.rights(key)
    assert (None if found is None else set(found)) == rights


def test_keys_are_required_once_any_role_has_one():
    assert not Keys({"ingest": (), "read": (), "admin": ()}).required
    assert Keys({"read": ("k",)}).required


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("abc", None),
        (None, None),
    ],
)
def test_the_bearer_token_of_an_authorization_header(header, key):
    assert bearer_token(header) == key


@pytest.mark.parametrize(
    ("method", "path", "right"),
    [
        ("GET", "/health", None),
        ("HEAD", "/health", None),
        ("POST", "/health", "admin"),
        ("GET", "/views/x", "read"),
        ("GET", "/metrics", "read"),
        ("GET", "/openapi.json", "read"),
        ("POST", "/events", "ingest"),
        ("POST", "/imports", "ingest"),
        ("POST", "/batch/runs", "admin"),
        ("DELETE", "/events", "admin"),
    ],
)
def test_the_right_each_request_needs(method, path, right):
    assert required_right(method, path, {"/events", "/imports"}) == right


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8000", "localhost"),
        ("LocalHost", "localhost"),
        ("127.0.0.1:1", "127.0.0.1"),
        ("[::1]:8001", "[::1]"),
        ("[::1]", "[::1]"),
        ("localhost.:80", "localhost"),
        ("rebind.evil.example:8001", "rebind.evil.example"),
    ],
)
def test_the_name_of_a_host_header(header, name):
    assert host_name(header) == name


def test_the_names_a_service_answers_to():
    policy = policy_for("serving", settings(allowed_hosts="Pipeline.example, 10.0.0.5"))
    for host in (
        "localhost:8001",
        "127.0.0.1:8001",
        "[::1]:8001",
        "serving:8001",
        "pipeline.example",
        "10.0.0.5:8001",
    ):
        assert host_allowed(host, policy.allowed_hosts), host
    for host in ("rebind.evil.example", "ingest:8000", "127.0.0.2", "", None, "localhost.evil"):
        assert not host_allowed(host, policy.allowed_hosts), host


def test_a_service_bound_to_one_address_answers_to_it_and_a_star_allows_any_name():
    assert host_allowed(
        "192.0.2.7:8000", policy_for("x", settings(bind_host="192.0.2.7")).allowed_hosts
    )
    assert not host_allowed("0.0.0.0", policy_for("x", settings(bind_host="0.0.0.0")).allowed_hosts)
    assert host_allowed("any.example", policy_for("x", settings(allowed_hosts="*")).allowed_hosts)


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://LOCALHOST:8000", "localhost:8000", True),
        ("http://localhost", "localhost:80", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("https://evil.example", "127.0.0.1:8000", False),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
        ("http://localhost:8000", "127.0.0.1:8000", False),
        ("https://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000/path", "127.0.0.1:8000", False),
        ("http://127.0.0.1:99999", "127.0.0.1:8000", False),
    ],
)
def test_an_origin_is_the_services_own_only_with_its_scheme_name_and_port(origin, host, same):
    assert same_origin(origin, "http", host) is same


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.4", False),
        ("example.com", False),
    ],
)
def test_which_addresses_only_this_machine_reaches(host, loopback):
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_needs_a_key():
    assert refuse_unprotected_bind(settings()) is None
    refusal = refuse_unprotected_bind(settings(bind_host="0.0.0.0"))
    assert refusal is not None
    for variable in ("LAMBDA_INGEST_KEYS", "LAMBDA_READ_KEYS", "LAMBDA_ADMIN_KEYS"):
        assert variable in refusal
    assert refuse_unprotected_bind(settings(bind_host="0.0.0.0", read_keys="k")) is None


def test_keys_are_never_shown_in_the_settings_line():
    line = settings(ingest_keys="secret-a,secret-b", admin_keys="secret-c").describe()
    assert "secret" not in line
    assert "LAMBDA_INGEST_KEYS=(2 keys)" in line
    assert "LAMBDA_ADMIN_KEYS=(1 key)" in line


def test_a_tool_sends_its_own_key_else_the_first_of_a_role_that_may():
    keys = settings(ingest_keys="in-1,in-2", admin_keys="ad-1")
    assert keys.client_key("ingest") == "in-1"
    assert keys.client_key("read") == "ad-1"
    assert settings(api_key="mine", read_keys="rd").client_key("read") == "mine"
    assert settings().client_key("read") is None


# -- the middleware -----------------------------------------------------------------------


def small_app(**keys: str) -> TestClient:
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/things")
    def things() -> dict[str, list[int]]:
        return {"things": [1]}

    @app.post("/events", status_code=202)
    def events() -> dict[str, int]:
        return {"accepted": 1}

    @app.post("/runs", status_code=202)
    def runs() -> dict[str, str]:
        return {"id": "r"}

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return "<!doctype html><title>page</title>"

    policy = policy_for(
        "ingest",
        settings(**keys),
        ingest_paths=["/events"],
        content_types={("POST", "/events"): ["application/json", "application/x-ndjson"]},
        pages=["/"],
    )
    secure(app, policy)
    return TestClient(app, base_url="http://127.0.0.1:8000")


JSON = {"content-type": "application/json"}


def test_without_keys_everything_is_answered_but_foreign_names_origins_and_types():
    client = small_app()
    assert client.get("/things").status_code == 200
    assert client.post("/events", content=b"{}", headers=JSON).status_code == 202
    assert client.post("/runs").status_code == 202
    assert client.get("/things", headers={"host": "rebind.evil.example"}).status_code == 400
    assert client.get("/health", headers={"host": "rebind.evil.example"}).status_code == 400
    evil = {"origin": "https://evil.example"}
    assert client.post("/events", content=b"{}", headers={**JSON, **evil}).status_code == 403
    assert client.post("/runs", headers=evil).status_code == 403
    own = {"origin": "http://127.0.0.1:8000"}
    assert client.post("/runs", headers=own).status_code == 202
    assert client.get("/things", headers=evil).status_code == 200  # reading is not refused
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = client.post("/events", content=b"{}", headers={"content-type": content_type})
        assert answer.status_code == 415, content_type
    assert client.post("/events", content=b"{}").status_code == 415  # no Content-Type
    with_charset = {"content-type": "Application/JSON; charset=utf-8"}
    assert client.post("/events", content=b"{}", headers=with_charset).status_code == 202


def test_with_keys_each_request_needs_a_key_with_its_right():
    client = small_app(ingest_keys="in-1", read_keys="rd-1", admin_keys="ad-1")
    bearer = lambda key: {"authorization": f"Bearer {key}"}  # noqa: E731
    assert client.get("/health").status_code == 200
    missing = client.get("/things")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/things", headers=bearer("wrong")).status_code == 401
    assert client.get("/things", headers=bearer("rd-1")).status_code == 200
    assert client.get("/things", headers=bearer("ad-1")).status_code == 200
    assert client.get("/things", headers=bearer("in-1")).status_code == 403
    post = lambda key: client.post("/events", content=b"{}", headers={**JSON, **bearer(key)})  # noqa: E731
    assert post("in-1").status_code == 202
    assert post("ad-1").status_code == 202
    assert post("rd-1").status_code == 403
    assert client.post("/runs", headers=bearer("ad-1")).status_code == 202
    assert client.post("/runs", headers=bearer("rd-1")).status_code == 403
    assert client.post("/runs", headers=bearer("in-1")).status_code == 403
    assert client.post("/runs").status_code == 401
    for answer in (missing, post("rd-1")):
        assert "in-1" not in answer.text and "rd-1" not in answer.text


def test_a_page_without_a_key_is_still_served_with_401_so_it_can_ask_for_one():
    client = small_app(read_keys="rd-1")
    page = client.get("/")
    assert page.status_code == 401
    assert "<title>page</title>" in page.text
    assert page.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/", headers={"authorization": "Bearer rd-1"}).status_code == 200


def test_every_answer_refuses_framing_and_foreign_sources():
    client = small_app(read_keys="rd-1")
    for answer in (client.get("/"), client.get("/health"), client.get("/things")):
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-frame-options"] == "DENY"
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert all("http" not in sources for sources in directives.values())


def test_the_openapi_document_says_what_the_policy_answers():
    client = small_app(read_keys="rd-1")
    document = client.get("/openapi.json", headers={"authorization": "Bearer rd-1"}).json()
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert document["paths"]["/health"]["get"]["security"] == []
    assert document["paths"]["/things"]["get"]["security"] == [{"apiKey": []}]
    events = document["paths"]["/events"]["post"]["responses"]
    assert {"401", "403", "415"} <= set(events)
    unkeyed = small_app().get("/openapi.json").json()
    assert "securitySchemes" not in unkeyed.get("components", {})
    assert "401" not in unkeyed["paths"]["/things"]["get"]["responses"]
