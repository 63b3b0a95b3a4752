"""Issue 16: `/docs` loaded Swagger UI from a CDN, and no page carried a Content-Security-
Policy (framing was allowed). In a real browser now: the dashboard and both services' /docs
fetch nothing from any other origin, the browser reports no violation of their policy (so
they run no inline script), Swagger UI draws every operation from the vendored files, and
each page refuses to be framed."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import chromium
from playwright.sync_api import BrowserContext

pytestmark = [pytest.mark.integration, pytest.mark.stack]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(Path(tmp_path_factory.mktemp("pages-profile"))) as context:
        yield context


def origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def open_page(browser: BrowserContext, url: str, ready: str) -> tuple[list[str], list[str]]:
    """Every URL the page requested and every console message, once ``ready`` is shown."""
    page = browser.new_page()
    requested: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    try:
        answer = page.goto(url)
        assert answer is not None and answer.status == 200, url
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        page.wait_for_selector(ready, timeout=30_000)
        page.wait_for_load_state("networkidle")
    finally:
        page.close()
    return requested, console


@pytest.mark.parametrize(
    ("service", "path", "ready"),
    [
        ("serving", "/", "#dashboard[data-generated-at]:not([data-generated-at=''])"),
        ("serving", "/docs", ".swagger-ui .opblock"),
        ("ingest", "/docs", ".swagger-ui .opblock"),
    ],
)
def test_a_page_loads_only_its_own_files(pipeline, browser, service, path, ready):
    base = pipeline.serving_url if service == "serving" else pipeline.ingest_url
    requested, console = open_page(browser, base + path, ready)
    own = origin(base)
    foreign = [url for url in requested if not url.startswith("data:") and origin(url) != own]
    assert foreign == [], foreign
    assert len(requested) >= 3, requested  # the page and its files were fetched
    violations = [line for line in console if "Content Security Policy" in line]
    assert violations == [], violations
    assert not [line for line in console if line.startswith("pageerror")], console


def test_a_page_refuses_to_be_framed(pipeline, browser, tmp_path):
    # A page of another origin (a file here) that frames the dashboard: the frame stays empty.
    framing = tmp_path / "framing.html"
    framing.write_text(f'<iframe id="f" src="{pipeline.serving_url}/"></iframe>')
    page = browser.new_page()
    try:
        page.goto(framing.as_uri())
        page.wait_for_load_state("networkidle")
        frame = page.frame_locator("#f")
        assert frame.locator("#dashboard").count() == 0
    finally:
        page.close()
