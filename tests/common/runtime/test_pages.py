"""Every page of both services loads nothing from elsewhere and runs no inline script: the
dashboard and /docs link only their own files, those files name no other origin, and each
answer carries the Content-Security-Policy and frame refusal (common.runtime.security)."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.model.views import parse_catalog
from common.runtime.security import CONTENT_SECURITY_POLICY
from ingest.main import create_app as create_ingest
from ingest.settings import IngestSettings
from serving_layer.main import create_app as create_serving
from serving_layer.settings import ServingSettings

VIEWS = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour", "metrics": {"n": "count"}}
        ]
    }
)
OWN_SCRIPTS = ("/assets/api-key.js", "/assets/docs.js", "/dashboard/dashboard.js")
# Namespaces and spec links inside the vendored Swagger UI bundle are strings, not loads;
# the pages and the platform's own scripts hold no other origin at all.
NAMESPACE = r"https?://(?!www\.w3\.org/)"


def apps(tmp_path) -> dict[str, FastAPI]:
    common = {"data_dir": tmp_path, "kafka_bootstrap": "127.0.0.1:1"}
    return {
        "ingest": create_ingest(IngestSettings(**common), VIEWS),
        "serving": create_serving(ServingSettings(**common), VIEWS),
    }


def linked(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("service", ["ingest", "serving"])
def test_docs_come_from_the_service_itself(tmp_path, service):
    client = TestClient(apps(tmp_path)[service])
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    links = linked(page.text)
    assert "/assets/swagger-ui-bundle.js" in links and "/assets/docs.js" in links
    assert all(link.startswith("/") and not link.startswith("//") for link in links), links
    assert not re.search(r"https?://", page.text)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)  # no inline script
    for link in links:
        asset = client.get(link)
        assert asset.status_code == 200, link
        if link in OWN_SCRIPTS:
            assert not re.search(NAMESPACE, asset.text), link
    assert client.get("/redoc").status_code == 404  # ReDoc needs inline styles: not served
    assert client.get("/assets/../main.py").status_code == 404


def test_the_dashboard_runs_no_inline_script_and_names_no_other_origin(tmp_path):
    client = TestClient(apps(tmp_path)["serving"])
    page = client.get("/")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)
    assert not re.search(r"\sstyle=|\son[a-z]+=", page.text)  # no inline style or handler
    assert "/assets/api-key.js" in linked(page.text)
    for link in linked(page.text):
        if link in OWN_SCRIPTS:
            assert not re.search(NAMESPACE, client.get(link).text), link
